// `npm run bench -- write-path [--pods N] [--concurrency N] [--watchers N]`: what each write of a
// rollout costs the API server's thread, by kind of write. The API server's thread is the
// serial part of a large rollout (bench/workloads.ts), and per pod it serves one create, one
// binding, one status patch and four Events; this bench serves N of each, phase by phase, and
// prints the API thread's CPU µs per request of each phase (from /proc) and their sum per pod.
//
// The real API server (startApiServer: SQLite store with fsync, admission, validation,
// managedFields, watch fan-out) runs on this thread; a worker thread sends the requests through
// the in-process API channel, as `up`'s components do, with their user agents and the bodies
// they send (taken from a rollout's requests): the ReplicaSet controller's pod, the scheduler's
// binding, the kubelet's strategic merge patch of the pod's status, and the Scheduled, Pulled,
// Created and Started Events. `--watchers` pod watches (default 3: the controllers', the
// scheduler's and the node agents' informers) are open meanwhile, so that each write's watch
// fan-out is counted; their events are read on the worker.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MessageChannel, Worker, isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { startApiServer, ApiChannelServer } from '../src/apiserver/index.js';
import { RestClient } from '../src/client/rest.js';
import { ApiChannel } from '../src/client/channel.js';
import { logger, setLogLevel } from '../src/util/log.js';
import { cpuSeconds, progress } from './lib.js';

const PHASES = ['pod create', 'binding', 'status patch', 'event create'] as const;
type Phase = (typeof PHASES)[number];
/** Requests of each phase per pod in a rollout. */
const PER_POD: Record<Phase, number> = { 'pod create': 1, binding: 1, 'status patch': 1, 'event create': 4 };

const USER_AGENT = {
  controllers: 'kube-controller-manager/v1.32.4 (linux/amd64) kubelite/0.1.0',
  scheduler: 'kube-scheduler/v1.32.4 (linux/amd64) kubelite/0.1.0',
  kubelet: 'kubelet/v1.32.4 (linux/amd64) kubelite/0.1.0',
};
const NS = '/api/v1/namespaces/default';
const RS = { name: 'load-59cf8689dd', uid: '25f0ebc1-dd2d-464d-ae63-2d0098368bc5' };

/** Messages from the worker: a phase is about to start (the main thread then says go), or ended. */
type FromClient = { ready: Phase } | { ended: Phase } | { done: true };

interface WorkerData { token: string; url: string; port: MessagePort; pods: number; concurrency: number; watchers: number }

const mainThreadCpu = () => cpuSeconds(`${process.pid}/task/${process.pid}`);

async function main(): Promise<void> {
  const args = parseArgs({ options: { pods: { type: 'string', default: '3000' }, concurrency: { type: 'string', default: '64' }, watchers: { type: 'string', default: '3' } } });
  const pods = Number(args.values.pods), concurrency = Number(args.values.concurrency), watchers = Number(args.values.watchers);
  setLogLevel('warn');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'kubelite-write-path-'));
  const api = await startApiServer({ dataDir, listen: '127.0.0.1:0', log: logger('apiserver') });
  api.server.setReady(true);
  const { port1, port2 } = new MessageChannel();
  const channel = new ApiChannelServer((req, res) => api.server.serveInProcess(req, res));
  channel.attach(port1);
  const data: WorkerData = { token: api.adminToken, url: api.url, port: port2, pods, concurrency, watchers };
  const worker = new Worker(new URL(import.meta.url), { workerData: data, transferList: [port2] });
  const results = new Map<Phase, { seconds: number; cpuUs: number }>();
  let c0 = 0, t0 = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      worker.on('error', reject);
      worker.on('message', (m: FromClient) => {
        if ('ready' in m) {
          progress(`${m.ready}: ${m.ready === 'event create' ? pods * PER_POD[m.ready] : pods} requests, ${concurrency} at a time`);
          c0 = mainThreadCpu();
          t0 = performance.now();
          worker.postMessage('go');
        } else if ('ended' in m) {
          const n = pods * (m.ended === 'event create' ? PER_POD[m.ended] : 1);
          results.set(m.ended, { seconds: (performance.now() - t0) / 1000, cpuUs: ((mainThreadCpu() - c0) / n) * 1e6 });
        } else resolve();
      });
    });
  } finally {
    await worker.terminate();
    channel.close();
    await api.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  let perPod = 0;
  for (const phase of PHASES) {
    const r = results.get(phase)!;
    const n = pods * (phase === 'event create' ? PER_POD[phase] : 1);
    perPod += r.cpuUs * PER_POD[phase];
    process.stdout.write(`${phase.padEnd(14)} ${(n / r.seconds).toFixed(0).padStart(6)} req/s  ${r.cpuUs.toFixed(1).padStart(6)} µs of the API thread's CPU per request (× ${PER_POD[phase]} per pod)\n`);
  }
  process.stdout.write(`per pod (${PHASES.map((p) => `${PER_POD[p]} ${p}`).join(', ')}): ${(perPod / 1000).toFixed(3)} ms of the API thread's CPU, ${watchers} pod watchers\n`);
  process.stdout.write(JSON.stringify({ pods, concurrency, watchers, perPodMs: perPod / 1000, phases: Object.fromEntries(results) }) + '\n');
}

/** The client thread: each phase's requests, `concurrency` at a time, after the main thread says go. */
async function client(o: WorkerData): Promise<void> {
  const channel = new ApiChannel(o.port);
  const as = (userAgent: string) => new RestClient({ server: o.url, token: o.token, userAgent, channel });
  const controllers = as(USER_AGENT.controllers), scheduler = as(USER_AGENT.scheduler), kubelet = as(USER_AGENT.kubelet);
  for (let i = 0; i < o.watchers; i++) controllers.watch(`${NS}/pods`, {}, () => {}, { omitManagedFields: true });
  const created: { name: string; uid: string }[] = [];
  const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const run = async (phase: Phase, count: number, op: (i: number) => Promise<unknown>): Promise<void> => {
    parentPort!.postMessage({ ready: phase } satisfies FromClient);
    await new Promise((resolve) => parentPort!.once('message', resolve));
    let next = 0;
    await Promise.all(Array.from({ length: o.concurrency }, async () => {
      while (next < count) await op(next++);
    }));
    parentPort!.postMessage({ ended: phase } satisfies FromClient);
  };
  await run('pod create', o.pods, async () => {
    const pod = await controllers.create<{ metadata: { name: string; uid: string } }>(`${NS}/pods`, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { generateName: `${RS.name}-`, labels: { app: 'load', 'pod-template-hash': '59cf8689dd' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: RS.name, uid: RS.uid, controller: true, blockOwnerDeletion: true }] },
      spec: { containers: [{ name: 'web', image: 'nginx:1.27', imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', resources: {} }],
        dnsPolicy: 'ClusterFirst', restartPolicy: 'Always', securityContext: {}, terminationGracePeriodSeconds: 30, schedulerName: 'default-scheduler' },
    }, undefined, { omitManagedFields: true });
    created.push({ name: pod.metadata.name, uid: pod.metadata.uid });
  });
  const node = (i: number) => `node${String((i % 100) + 1).padStart(3, '0')}`;
  await run('binding', o.pods, async (i) => {
    const { name, uid } = created[i]!;
    await scheduler.request('POST', `${NS}/pods/${name}/binding`, { ignoreResult: true,
      body: { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace: 'default', uid }, target: { apiVersion: 'v1', kind: 'Node', name: node(i) } } });
  });
  await run('status patch', o.pods, async (i) => {
    const { name, uid } = created[i]!;
    const t = now();
    const ip = `127.128.${(i >> 8) & 255}.${i & 255}`;
    await kubelet.patch(`${NS}/pods/${name}/status`, { metadata: { uid }, status: {
      phase: 'Running',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady'].map((type) => ({ type, status: 'True', lastTransitionTime: t })),
      '$setElementOrder/conditions': ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type })),
      hostIP: '127.0.0.1', hostIPs: [{ ip: '127.0.0.1' }], '$setElementOrder/hostIPs': [{ ip: '127.0.0.1' }],
      podIP: ip, podIPs: [{ ip }], '$setElementOrder/podIPs': [{ ip }], startTime: t,
      containerStatuses: [{ name: 'web', state: { running: { startedAt: t } }, lastState: {}, ready: true, restartCount: 0, image: 'docker.io/library/nginx:1.27',
        imageID: 'docker.io/library/nginx@sha256:6965a10c15290ad0b29ca7fd1866de1850408b3cb15fb11a3bbbbc2fddb158bd', containerID: `kubelite-sim://${uid.replace(/-/g, '')}`, started: true }],
    } }, 'strategic', undefined, { omitManagedFields: true });
  });
  const EVENTS = [
    { by: scheduler, reason: 'Scheduled', component: 'default-scheduler', message: (name: string, i: number) => `Successfully assigned default/${name} to ${node(i)}` },
    { by: kubelet, reason: 'Pulled', component: 'kubelet', message: () => 'Container image "nginx:1.27" already present on machine' },
    { by: kubelet, reason: 'Created', component: 'kubelet', message: () => 'Created container: web' },
    { by: kubelet, reason: 'Started', component: 'kubelet', message: () => 'Started container web' },
  ];
  await run('event create', o.pods * EVENTS.length, async (j) => {
    const i = j >> 2, e = EVENTS[j & 3]!;
    const { name, uid } = created[i]!;
    const t = now();
    const kubeletEvent = e.component === 'kubelet';
    await e.by.create(`${NS}/events`, {
      metadata: { name: `${name}.${(0x18ec13084e + j).toString(16)}`, namespace: 'default' },
      involvedObject: { kind: 'Pod', namespace: 'default', name, uid, apiVersion: 'v1', resourceVersion: '45', ...(kubeletEvent ? { fieldPath: 'spec.containers{web}' } : {}) },
      reason: e.reason, message: e.message(name, i), type: 'Normal',
      source: kubeletEvent ? { component: 'kubelet', host: node(i) } : { component: e.component },
      firstTimestamp: t, lastTimestamp: t, count: 1, eventTime: null, reportingComponent: e.component, reportingInstance: kubeletEvent ? node(i) : '',
    }, undefined, { omitManagedFields: true });
  });
  parentPort!.postMessage({ done: true } satisfies FromClient);
}

if (isMainThread) {
  main().catch((e) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : e}\n`);
    process.exit(1);
  });
} else {
  client(workerData as WorkerData).catch((e) => {
    process.stderr.write(`write-path client failed: ${e instanceof Error ? e.stack : e}\n`);
    process.exit(1);
  });
}
