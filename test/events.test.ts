// The event recorder (src/client/events.ts): its correlator alone with a fake clock (upstream's
// aggregation, counting and spam filter), then against a real server: events as client-go writes
// them, repeats counted on one object, similar events combined, kubectl describe showing them, and
// the events of a 100-replica Deployment as upstream's components leave them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';
import { RestClient } from '../src/client/rest.js';
import { EventCorrelator, EventRecorder, MAX_CLIENT_EVENT_WRITES, type CoreEvent, type Correlation } from '../src/client/events.js';

/** A core/v1 Event as the recorder makes it, about one pod unless told otherwise. */
function makeEvent(t: number, reason: string, message: string, o: { name?: string; fieldPath?: string; type?: 'Normal' | 'Warning'; component?: string } = {}): CoreEvent {
  const stamp = new Date(t).toISOString();
  const involvedObject: Record<string, string> = { kind: 'Pod', namespace: 'default', name: o.name ?? 'web', uid: `uid-${o.name ?? 'web'}`, apiVersion: 'v1' };
  if (o.fieldPath) involvedObject.fieldPath = o.fieldPath;
  return {
    metadata: { name: `${involvedObject.name}.${t.toString(16)}`, namespace: 'default' }, involvedObject,
    reason, message, type: o.type ?? 'Normal', source: { component: o.component ?? 'kubelet', host: 'node01' },
    firstTimestamp: stamp, lastTimestamp: stamp, count: 1, eventTime: null, reportingComponent: o.component ?? 'kubelet', reportingInstance: 'node01',
  };
}

function written(r: Correlation): { event: CoreEvent; key: string; update: boolean } {
  assert.equal(r.skip, false, 'the event was filtered');
  return r as Extract<Correlation, { skip: false }>;
}

describe('event correlator (client-go tools/record/events_cache.go)', () => {
  const MIN = 60_000;

  test('an identical event updates the first one: same name and firstTimestamp, count + 1', () => {
    let now = 1_000_000;
    const c = new EventCorrelator(() => now);
    const first = written(c.correlate(makeEvent(now, 'Pulled', 'Container image "nginx" already present on machine')));
    assert.equal(first.update, false);
    now += 5000;
    const second = written(c.correlate(makeEvent(now, 'Pulled', 'Container image "nginx" already present on machine')));
    assert.equal(second.update, true);
    assert.equal(second.key, first.key);
    assert.equal(second.event.metadata.name, first.event.metadata.name);
    assert.equal(second.event.firstTimestamp, first.event.firstTimestamp);
    assert.equal(second.event.lastTimestamp, new Date(now).toISOString());
    assert.equal(second.event.count, 2);
    // The field path (another container) or the message makes another event.
    assert.equal(written(c.correlate(makeEvent(now, 'Pulled', 'Container image "nginx" already present on machine', { fieldPath: 'spec.containers{b}' }))).update, false);
    assert.equal(written(c.correlate(makeEvent(now, 'Pulled', 'Container image "redis" already present on machine'))).update, false);
  });

  test('the 10th different message for one object and reason starts a combined event, updated from then on', () => {
    let now = 1_000_000;
    const c = new EventCorrelator(() => now);
    for (let i = 1; i <= 9; i++) {
      const r = written(c.correlate(makeEvent(now, 'SuccessfulCreate', `Created pod: web-${i}`)));
      assert.equal(r.event.message, `Created pod: web-${i}`);
      assert.equal(r.update, false);
    }
    // Another reason or another object is another group.
    assert.equal(written(c.correlate(makeEvent(now, 'SuccessfulDelete', 'Deleted pod: web-1'))).event.message, 'Deleted pod: web-1');
    assert.equal(written(c.correlate(makeEvent(now, 'SuccessfulCreate', 'Created pod: x-10', { name: 'other' }))).event.message, 'Created pod: x-10');
    const tenth = written(c.correlate(makeEvent(now, 'SuccessfulCreate', 'Created pod: web-10')));
    assert.equal(tenth.event.message, '(combined from similar events): Created pod: web-10');
    assert.equal(tenth.update, false);
    assert.equal(tenth.event.count, 1);
    assert.equal(tenth.event.reportingComponent, '', 'upstream builds the combined event without reporting fields');
    now += 1000;
    const eleventh = written(c.correlate(makeEvent(now, 'SuccessfulCreate', 'Created pod: web-11')));
    assert.equal(eleventh.update, true);
    assert.equal(eleventh.key, tenth.key);
    assert.equal(eleventh.event.metadata.name, tenth.event.metadata.name);
    assert.equal(eleventh.event.message, '(combined from similar events): Created pod: web-11');
    assert.equal(eleventh.event.count, 2);
  });

  test('the aggregation window slides with each similar event; after 10 quiet minutes a group starts over', () => {
    let now = 1_000_000;
    const c = new EventCorrelator(() => now);
    // Nine messages 6 minutes apart: 48 minutes from first to last, never 10 minutes apart.
    for (let i = 1; i <= 9; i++, now += 6 * MIN) c.correlate(makeEvent(now, 'Failed', `attempt ${i}`, { type: 'Warning' }));
    assert.match(written(c.correlate(makeEvent(now, 'Failed', 'attempt 10', { type: 'Warning' }))).event.message, /^\(combined from similar events\): attempt 10$/);
    now += 10 * MIN + 1;
    assert.equal(written(c.correlate(makeEvent(now, 'Failed', 'attempt 11', { type: 'Warning' }))).event.message, 'attempt 11');
  });

  test('each cache forgets its least recently used of 4,096 entries; a lookup refreshes an entry', () => {
    const now = 1_000_000;
    const c = new EventCorrelator(() => now);
    const pulled = (name: string) => makeEvent(now, 'Pulled', 'Container image "nginx" already present on machine', { name });
    const keep = written(c.correlate(pulled('keep')));
    written(c.correlate(pulled('drop')));
    // 4,094 other objects: with keep and drop, each cache is full.
    for (let i = 0; i < 4094; i++) c.correlate(pulled(`other-${i}`));
    // Seen again, keep is the most recently used; drop is now the least.
    assert.equal(written(c.correlate(pulled('keep'))).event.metadata.name, keep.event.metadata.name);
    c.correlate(pulled('one-more'));
    const again = written(c.correlate(pulled('keep')));
    assert.equal(again.update, true);
    assert.equal(again.event.count, 3);
    // drop was evicted from every cache: its repeat is a new event, not a count.
    const dropped = written(c.correlate(pulled('drop')));
    assert.equal(dropped.update, false);
    assert.equal(dropped.event.count, 1);
    // Its spam bucket went too: a fresh one lets 25 more through.
    for (let i = 0; i < 24; i++) assert.equal(c.correlate(makeEvent(now, 'BackOff', `b${i}`, { name: 'drop', type: 'Warning' })).skip, false);
    assert.equal(c.correlate(makeEvent(now, 'BackOff', 'b-last', { name: 'drop', type: 'Warning' })).skip, true);
  });

  test('the spam filter: 25 events per source and object, then one per 5 minutes; skipped repeats still count', () => {
    let now = 1_000_000;
    const c = new EventCorrelator(() => now);
    for (let i = 1; i <= 25; i++) written(c.correlate(makeEvent(now, 'BackOff', 'Back-off restarting failed container c', { type: 'Warning' })));
    // Any reason or type about the same object from the same source draws on the same bucket.
    assert.equal(c.correlate(makeEvent(now, 'BackOff', 'Back-off restarting failed container c', { type: 'Warning' })).skip, true);
    assert.equal(c.correlate(makeEvent(now, 'Pulled', 'Container image "nginx" already present on machine')).skip, true);
    // Another object, or another source about this object, has a bucket of its own.
    assert.equal(c.correlate(makeEvent(now, 'BackOff', 'Back-off restarting failed container c', { type: 'Warning', name: 'other' })).skip, false);
    assert.equal(c.correlate(makeEvent(now, 'Scheduled', 'Successfully assigned default/web to node01', { component: 'default-scheduler' })).skip, false);
    now += 5 * MIN - 1000;
    assert.equal(c.correlate(makeEvent(now, 'BackOff', 'Back-off restarting failed container c', { type: 'Warning' })).skip, true);
    now += 2000;
    const next = written(c.correlate(makeEvent(now, 'BackOff', 'Back-off restarting failed container c', { type: 'Warning' })));
    assert.equal(next.update, true);
    assert.equal(next.event.count, 28, '25 written, 2 skipped, this one');
    assert.equal(c.correlate(makeEvent(now, 'BackOff', 'Back-off restarting failed container c', { type: 'Warning' })).skip, true);
  });
});

describe('event recorder write queue', () => {
  test('writes of one event key run in order, at most 16 at once; flush waits for all, later ones too', async () => {
    const calls: { method: string; pod: string; count: number }[] = [];
    const inFlight = new Set<number>();
    let most = 0;
    const answers: (() => void)[] = [];
    // A client whose answers the test releases, in the reverse order of the requests.
    const client = {
      request(method: string, path: string, opts: { body: { count: number; involvedObject?: { name: string } } }) {
        const pod = opts.body.involvedObject?.name ?? path.slice(path.lastIndexOf('/') + 1).split('.')[0]!;
        const id = calls.push({ method, pod, count: opts.body.count });
        inFlight.add(id);
        most = Math.max(most, inFlight.size);
        return new Promise<void>((resolve) => answers.push(() => { inFlight.delete(id); resolve(); }));
      },
    } as unknown as RestClient;
    const rec = new EventRecorder(client, { component: 'kubelet', host: 'n1' });
    const pod = (i: number) => ({ kind: 'Pod', apiVersion: 'v1', metadata: { name: `p${i}`, namespace: 'default', uid: `u${i}` } });
    // p0's event three times (a create, then two count patches), and 30 other pods' events.
    for (let i = 0; i < 31; i++) rec.event(pod(i), 'Normal', 'Pulled', 'image present');
    rec.event(pod(0), 'Normal', 'Pulled', 'image present');
    rec.event(pod(0), 'Normal', 'Pulled', 'image present');
    let flushed = false;
    const flush = rec.flush().then(() => { flushed = true; });
    // Recorded after the flush began: the flush waits for it too.
    rec.event(pod(99), 'Normal', 'Pulled', 'image present');
    while (answers.length) {
      assert.equal(flushed, false);
      assert.ok(inFlight.size <= 16);
      answers.splice(0).reverse().forEach((answer) => answer());
      await new Promise((r) => setImmediate(r));
    }
    await flush;
    assert.equal(most, 16);
    assert.equal(calls.length, 34);
    assert.deepEqual(calls.filter((c) => c.pod === 'p0').map((c) => `${c.method} ${c.count}`), ['POST 1', 'PATCH 2', 'PATCH 3']);
    assert.ok(calls.some((c) => c.pod === 'p99'));
    await rec.flush();
  });
});

describe('event recorder write slots per client', () => {
  test(`the recorders of one client keep at most ${MAX_CLIENT_EVENT_WRITES} writes in flight together, and every write is made`, { timeout: 10_000 }, async () => {
    let inFlight = 0;
    let most = 0;
    const answers: (() => void)[] = [];
    const pods: string[] = [];
    const client = {
      request(_method: string, _path: string, opts: { body: { involvedObject: { name: string } } }) {
        pods.push(opts.body.involvedObject.name);
        inFlight++;
        most = Math.max(most, inFlight);
        // Every fourth write fails: a failed write frees its slot as well.
        const fail = pods.length % 4 === 0;
        return new Promise<void>((resolve, reject) => answers.push(() => {
          inFlight--;
          if (fail) reject(new Error('connection reset'));
          else resolve();
        }));
      },
    } as unknown as RestClient;
    // As `up`'s node agents: many recorders on one client, each with a burst of events.
    const recorders = Array.from({ length: 10 }, (_, n) => new EventRecorder(client, { component: 'kubelet', host: `node${n}` }));
    const other = { request: client.request } as unknown as RestClient;
    const otherRecorder = new EventRecorder(other, { component: 'kubelet', host: 'elsewhere' });
    recorders.forEach((rec, n) => {
      for (let i = 0; i < 10; i++) rec.event({ kind: 'Pod', apiVersion: 'v1', metadata: { name: `p${n}-${i}`, namespace: 'default', uid: `u${n}-${i}` } }, 'Normal', 'Pulled', 'image present');
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(inFlight, MAX_CLIENT_EVENT_WRITES, 'the first writes take every slot of the client');
    // Another client has slots of its own.
    otherRecorder.event({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'q', namespace: 'default', uid: 'uq' } }, 'Normal', 'Pulled', 'image present');
    await new Promise((r) => setImmediate(r));
    assert.equal(inFlight, MAX_CLIENT_EVENT_WRITES + 1);
    while (answers.length) {
      // Answered a few at a time: the freed slots go to waiting writes.
      answers.splice(0, 5).forEach((answer) => answer());
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all([...recorders, otherRecorder].map((rec) => rec.flush()));
    assert.equal(most, MAX_CLIENT_EVENT_WRITES + 1);
    assert.equal(pods.length, 101);
    assert.equal(new Set(pods).size, 101, 'each event written once');
    assert.equal(inFlight, 0);
  });
});

describe('event recorder', () => {
  let c: Cluster;
  let client: RestClient;
  let pod: any;
  before(async () => {
    c = await startCluster();
    client = await RestClient.fromKubeconfig(c.kubeconfig, 'events-test');
    pod = await client.create('/api/v1/namespaces/default/pods', { metadata: { name: 'web' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
  });
  after(async () => { client?.close(); await c?.cleanup(); });

  test('an event names its object, repeats count up, describe lists them', async () => {
    const rec = new EventRecorder(client, { component: 'kubelet', host: 'node01' });
    rec.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Normal', 'Pulled', 'Container image "nginx" already present on machine');
    rec.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Normal', 'Pulled', 'Container image "nginx" already present on machine');
    rec.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Warning', 'BackOff', 'Back-off restarting failed container c');
    await rec.flush();
    const events = (await client.get<any>('/api/v1/namespaces/default/events', { fieldSelector: `involvedObject.uid=${pod.metadata.uid}` })).items;
    assert.equal(events.length, 2);
    const pulled = events.find((e: any) => e.reason === 'Pulled');
    assert.match(pulled.metadata.name, /^web\.[0-9a-f]+$/);
    assert.equal(pulled.count, 2);
    assert.deepEqual(pulled.involvedObject, { kind: 'Pod', namespace: 'default', name: 'web', uid: pod.metadata.uid, apiVersion: 'v1', resourceVersion: pod.metadata.resourceVersion });
    assert.deepEqual(pulled.source, { component: 'kubelet', host: 'node01' });
    assert.equal(pulled.type, 'Normal');

    const out = await c.k('describe', 'pod', 'web');
    const lines = out.split('\n');
    const at = lines.findIndex((l) => l.startsWith('Events:'));
    assert.ok(at >= 0, out);
    assert.match(lines[at + 1], /^\s+Type\s+Reason\s+Age\s+From\s+Message$/);
    assert.ok(lines.some((l) => /^\s+Normal\s+Pulled\s+\S+ \(x2 over \S+\)\s+kubelet\s+Container image "nginx" already present on machine$/.test(l)), out);
    assert.ok(lines.some((l) => /^\s+Warning\s+BackOff\s+\S+\s+kubelet\s+Back-off restarting failed container c$/.test(l)), out);
  });

  test('ten different messages for one reason are combined', async () => {
    const rec = new EventRecorder(client, { component: 'test-controller' });
    for (let i = 0; i < 12; i++) rec.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Warning', 'Failed', `attempt ${i} failed`);
    await rec.flush();
    const events = (await client.get<any>('/api/v1/namespaces/default/events', { fieldSelector: 'reason=Failed' })).items;
    const combined = events.filter((e: any) => e.message.startsWith('(combined from similar events): '));
    assert.equal(combined.length, 1);
    assert.equal(combined[0].count, 3);
    assert.equal(events.length, 10);
  });

  test('cluster-scoped objects get their events in default; the spam filter caps a burst', async () => {
    const node = await client.create<any>('/api/v1/nodes', { metadata: { name: 'node-e' } });
    const rec = new EventRecorder(client, { component: 'node-controller' });
    for (let i = 0; i < 30; i++) rec.event({ ...node, kind: 'Node', apiVersion: 'v1' }, 'Normal', 'RegisteredNode', `Node node-e event: Registered Node node-e in Controller ${i}`);
    await rec.flush();
    const events = (await client.get<any>('/api/v1/namespaces/default/events', { fieldSelector: 'involvedObject.name=node-e' })).items;
    const total = events.reduce((n: number, e: any) => n + e.count, 0);
    assert.equal(total, 25);
  });
});

describe('events of a 100-replica Deployment', () => {
  let c: Cluster | undefined;
  after(async () => { await c?.cleanup(); });

  test('as upstream: one scaling event, the ReplicaSet\'s creations combined and capped at 25, four events per pod', async () => {
    // Four nodes keep each kubelet's 100 pod events within its event burst (--event-burst 100).
    c = await startCluster({ components: true, args: ['--nodes', 'n1,n2,n3,n4', '--pod-start-delay', '0ms', '--disable', 'proxy'] });
    await c.k('create', 'deployment', 'web', '--image', 'nginx:1.27', '--replicas', '100');
    const podEvents = (events: any[]) => events.filter((e) => e.involvedObject.kind === 'Pod');
    // Each component writes its events in the background, unordered with the others' and with
    // the pods' state: wait for every component's share (the pods' 400, the ReplicaSet's 25
    // creations, the Deployment's scaling), then check each share exactly.
    const rsCount = (items: any[]) => items.filter((e) => e.involvedObject.kind === 'ReplicaSet').reduce((n, e) => n + e.count, 0);
    const events = await until(async () => {
      const items = JSON.parse(await c!.k('get', 'events', '-o', 'json')).items as any[];
      const all = podEvents(items).length >= 400 && rsCount(items) >= 25 && items.some((e) => e.involvedObject.kind === 'Deployment');
      return all ? items : undefined;
    }, '400 pod events, 25 ReplicaSet creations and the scaling event', 120_000);
    const pods = JSON.parse(await c.k('get', 'pods', '-l', 'app=web', '-o', 'json')).items as any[];
    assert.equal(pods.length, 100);

    const byPod = new Map<string, string[]>();
    for (const e of podEvents(events)) byPod.set(e.involvedObject.name, [...(byPod.get(e.involvedObject.name) ?? []), `${e.source.component} ${e.reason} x${e.count}`]);
    for (const p of pods) {
      assert.deepEqual((byPod.get(p.metadata.name) ?? []).sort(), ['default-scheduler Scheduled x1', 'kubelet Created x1', 'kubelet Pulled x1', 'kubelet Started x1'], p.metadata.name);
    }

    const rsEvents = events.filter((e) => e.involvedObject.kind === 'ReplicaSet');
    assert.ok(rsEvents.every((e) => e.reason === 'SuccessfulCreate' && e.source.component === 'replicaset-controller'), JSON.stringify(rsEvents.map((e) => e.reason)));
    const combined = rsEvents.filter((e) => e.message.startsWith('(combined from similar events): Created pod: web-'));
    assert.equal(combined.length, 1);
    assert.equal(rsEvents.length, 10, '9 single creations, then the combined event');
    assert.equal(rsEvents.reduce((n, e) => n + e.count, 0), 25, 'the spam filter lets 25 through');
    assert.equal(combined[0].count, 16);

    const deployEvents = events.filter((e) => e.involvedObject.kind === 'Deployment');
    assert.deepEqual(deployEvents.map((e) => `${e.reason} x${e.count}`), ['ScalingReplicaSet x1']);
    assert.match(deployEvents[0].message, /^Scaled up replica set web-[0-9a-z]+ to 100$/);
  });
});
