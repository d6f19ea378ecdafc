// The process runtime (RuntimeClass handler `process`) behind a real API server: the node agent
// runs in this process with a ProcessRuntime (short back-off), the pods' containers are host
// processes. Covers the RuntimeClass resource and its admission, a Node HTTP server that binds
// its pod IP and becomes Ready through an httpGet readiness probe, environment with fieldRef
// values, kubectl logs (-f, --tail, -c, --previous) through the API server's pods/log proxy to
// the agent, liveness restarts, crash-loop back-off, restart policies, and deletion (preStop,
// SIGTERM, SIGKILL when the grace period runs out).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startCluster, tempFile, type Cluster } from './helpers/cluster.js';
import { startAgentCluster, PODS, type AgentCluster } from './helpers/node-agents.js';
import { until } from './helpers/wait.js';
import { reserveNetworks } from './helpers/networks.js';
import { ipv4ToInt, parseCIDR4 } from '../src/node/ipam.js';
import type { RestClient, WatchHandle } from '../src/client/rest.js';
import { ProcessRuntime, goDuration } from '../src/node/runtimes/process.js';
import { lookPath, runExec } from '../src/node/runtimes/handlers.js';
import { expand } from '../src/node/runtimes/container-env.js';

const NODE = 'pnode';
const NODEJS = process.execPath;
/**
 * A pod network no other test uses, reserved machine-wide (test/helpers/networks.ts): each pod's
 * server binds its own loopback address, which a run of this file elsewhere would bind too.
 */
const NETWORKS = reserveNetworks();

function inCIDR(ip: string, cidr: string): boolean {
  const c = parseCIDR4(cidr);
  const n = ipv4ToInt(ip)!;
  return n >= c.base && n < c.base + c.size;
}

/** GET http://<ip>:<port><path> → body. */
function httpGet(ip: string, port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: ip, port, path: p, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
}

/**
 * The test server: logs `boot <id>` on start and one line per request (probe paths excepted),
 * answers /env with its environment. With FAIL_ONCE set, the first instance's /healthz fails
 * from its third call on (a file in the pod's working directory remembers it happened).
 */
const SERVER = `
const http = require('http'), fs = require('fs');
console.log('boot ' + Math.random().toString(36).slice(2));
let healthz = 0;
const failing = !!process.env.FAIL_ONCE && !fs.existsSync('failed-once');
if (failing) fs.writeFileSync('failed-once', '1');
http.createServer((req, res) => {
  if (req.url === '/healthz') { healthz++; res.statusCode = failing && healthz > 2 ? 500 : 200; return res.end('ok'); }
  if (req.url === '/ready') return res.end('ready');
  console.log('request ' + req.url);
  if (req.url === '/env') return res.end(JSON.stringify(process.env));
  res.end('hello from ' + process.env.POD_NAME + '\\n');
}).listen(8080, process.env.POD_IP);
`;

const serverContainer = (name: string, extra: Record<string, unknown> = {}) => ({
  name, image: 'node:20', command: [NODEJS, '-e', SERVER],
  readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1 },
  ...extra,
});

describe('process runtime', () => {
  let h: AgentCluster;
  let c: Cluster;
  let client: RestClient;
  let rootDir: string;

  const getPod = (name: string) => h.getPod(name);
  const createPod = (name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}) =>
    client.create<any>(PODS, { metadata: { name, ...meta }, spec: { nodeName: NODE, runtimeClassName: 'process', ...spec } });
  const runningReady = (name: string) => h.runningReady(name);
  const events = async (name: string) =>
    (await client.get<any>('/api/v1/namespaces/default/events', { fieldSelector: `involvedObject.name=${name}` })).items as any[];
  const hasEvent = (name: string, reason: string, message: string | RegExp) => until(async () =>
    (await events(name)).find((e) => e.reason === reason && (typeof message === 'string' ? e.message === message : message.test(e.message))), `${reason} event of ${name}`);

  before(async () => {
    h = await startAgentCluster({ userAgent: 'process-runtime-test', ipam: { clusterCIDR: NETWORKS.podCIDR } });
    ({ c, client } = h);
    rootDir = mkdtempSync(path.join(tmpdir(), 'kubelite-process-test-'));
    await h.startAgent({
      nodeName: NODE, leaseRenewIntervalMs: 1000,
      runtimes: { process: new ProcessRuntime({ rootDir, backoffBaseMs: 1000, backoffMaxMs: 4000 }) },
      sim: { startDelayMs: 100, startJitterMs: 0 },
    });
    await c.k('apply', '-f', tempFile('rc.yaml', 'apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: process\nhandler: process\n'));
    await until(async () => (await client.get<any>(`/api/v1/nodes/${NODE}`)).status?.conditions?.find((x: any) => x.type === 'Ready')?.status === 'True', 'the node ready');
  });

  after(async () => {
    await h?.stop();
    if (rootDir) rmSync(rootDir, { recursive: true, force: true });
    NETWORKS.release();
  });

  test('RuntimeClass: served cluster-scoped, printed NAME HANDLER AGE, handler a DNS label and immutable', async () => {
    const table = await c.k('get', 'runtimeclass');
    assert.match(table, /^NAME\s+HANDLER\s+AGE\nprocess\s+process\s+\d+s\n$/);
    const bad = await c.kubectl(['apply', '-f', tempFile('bad.yaml', 'apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: bad\nhandler: Bad_Handler\n')]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /The RuntimeClass "bad" is invalid: handler: Invalid value: "Bad_Handler": a lowercase RFC 1123 label must consist of/);
    const patch = await c.kubectl(['patch', 'runtimeclass', 'process', '--type=merge', '-p', '{"handler":"other"}']);
    assert.notEqual(patch.code, 0);
    assert.match(patch.stderr, /handler: Invalid value: "other": field is immutable/);
  });

  test('RuntimeClass admission: a missing class is forbidden; overhead and scheduling are copied into the pod', async () => {
    const missing = await c.kubectl(['run', 'orphan', '--image=nginx', '--overrides={"spec":{"runtimeClassName":"missing"}}']);
    assert.notEqual(missing.code, 0);
    assert.equal(missing.stderr, 'Error from server (Forbidden): pods "orphan" is forbidden: pod rejected: RuntimeClass "missing" not found\n');
    await client.create('/apis/node.k8s.io/v1/runtimeclasses', {
      metadata: { name: 'pinned' }, handler: 'process', overhead: { podFixed: { cpu: '250m' } },
      scheduling: { nodeSelector: { 'kubernetes.io/hostname': NODE }, tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] },
    });
    const pod = await client.create<any>(PODS, {
      metadata: { name: 'admitted' },
      spec: { runtimeClassName: 'pinned', nodeSelector: { disk: 'ssd' }, containers: [{ name: 'main', image: 'nginx' }] },
    });
    assert.deepEqual(pod.spec.overhead, { cpu: '250m' });
    assert.deepEqual(pod.spec.nodeSelector, { disk: 'ssd', 'kubernetes.io/hostname': NODE });
    assert.ok(pod.spec.tolerations.some((t: any) => t.key === 'dedicated' && t.effect === 'NoSchedule'));
    const conflict = await c.kubectl(['run', 'conflict', '--image=nginx', `--overrides={"spec":{"runtimeClassName":"pinned","nodeSelector":{"kubernetes.io/hostname":"elsewhere"}}}`]);
    assert.equal(conflict.stderr, `Error from server (Forbidden): pods "conflict" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[kubernetes.io/hostname] = ${NODE}; pod.spec.nodeSelector[kubernetes.io/hostname] = elsewhere\n`);
    await client.delete(`${PODS}/admitted`, { gracePeriodSeconds: 0 });
  });

  test('an HTTP server pod binds its pod IP, becomes Ready by its readiness probe and sees its environment', async () => {
    await createPod('web', {
      containers: [serverContainer('web', {
        env: [
          { name: 'MY_NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          { name: 'MY_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
          { name: 'MY_APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'GREETING', value: 'hello' },
          { name: 'PHRASE', value: '$(GREETING)-world $$(GREETING) $(UNDEFINED)' },
        ],
      })],
    }, { labels: { app: 'web' } });
    const p = await until(() => runningReady('web'), 'web Running and Ready');
    const cs = p.status.containerStatuses[0];
    assert.match(cs.containerID, /^kubelite-process:\/\/[0-9a-f]{64}$/);
    assert.equal(cs.ready, true);
    assert.equal(cs.started, true);
    assert.ok(cs.state.running.startedAt);
    assert.equal(cs.image, 'docker.io/library/node:20');
    const ip = p.status.podIP;
    assert.ok(inCIDR(ip, NETWORKS.podCIDR), `${ip} in ${NETWORKS.podCIDR}`);
    const hello = await httpGet(ip, 8080, '/');
    assert.equal(hello.body, 'hello from web\n');
    const env = JSON.parse((await httpGet(ip, 8080, '/env')).body);
    assert.equal(env.POD_NAME, 'web');
    assert.equal(env.POD_NAMESPACE, 'default');
    assert.equal(env.POD_IP, ip);
    assert.equal(env.HOSTNAME, 'web');
    assert.equal(env.MY_NODE, NODE);
    assert.equal(env.MY_UID, p.metadata.uid);
    assert.equal(env.MY_APP, 'web');
    assert.equal(env.MY_IP, ip);
    assert.equal(env.PHRASE, 'hello-world $(GREETING) $(UNDEFINED)');
    assert.match(await c.k('get', 'pod', 'web', '--no-headers'), /^web\s+1\/1\s+Running\s+0\s+\S+\n$/);
  });

  test('kubectl logs shows the container output, with --tail, --timestamps and -f', async () => {
    const ip = (await getPod('web')).status.podIP;
    await httpGet(ip, 8080, '/one');
    await httpGet(ip, 8080, '/two');
    const all = await until(async () => {
      const out = await c.k('logs', 'web');
      return out.includes('request /two') && out;
    }, 'both requests logged');
    assert.match(all, /^boot \w+\nrequest \/\nrequest \/env\nrequest \/one\nrequest \/two\n$/);
    assert.equal(await c.k('logs', 'web', '--tail=1'), 'request /two\n');
    assert.match(await c.k('logs', 'web', '--tail=2', '--timestamps'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z request \/one\n\S+Z request \/two\n$/);
    assert.equal(await c.k('logs', 'web', '--limit-bytes=4'), 'boot');

    // -f: what is logged afterwards arrives while the stream stays open.
    const follower = spawn('kubectl', [`--kubeconfig=${c.kubeconfig}`, 'logs', '-f', 'web', '--tail=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let streamed = '';
    follower.stdout.on('data', (d) => { streamed += d; });
    try {
      await until(async () => streamed.includes('request /two'), 'the tail line');
      await httpGet(ip, 8080, '/followed');
      await until(async () => streamed.includes('request /followed'), 'the new line through -f');
      assert.equal(streamed, 'request /two\nrequest /followed\n');
      assert.equal(follower.exitCode, null, 'the stream is still open');
    } finally {
      follower.kill();
    }
  });

  test('the pods/log subresource errors as upstream', async () => {
    const prev = await c.request('GET', `${PODS}/web/log?previous=true`);
    assert.equal(prev.status, 400);
    assert.equal(prev.json().message, 'previous terminated container "web" in pod "web" not found');
    const tail = await c.request('GET', `${PODS}/web/log?tailLines=-1`);
    assert.equal(tail.status, 422);
    assert.equal(tail.json().message, 'PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0');
    const wrong = await c.request('GET', `${PODS}/web/log?container=nope`);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json().message, 'container nope is not valid for pod web');
    const none = await c.request('GET', `${PODS}/nosuch/log`);
    assert.equal(none.status, 404);
    assert.equal(none.json().message, 'pods "nosuch" not found');
    // Not scheduled: no node, no log.
    await client.create(PODS, { metadata: { name: 'unscheduled' }, spec: { containers: [{ name: 'main', image: 'nginx' }] } });
    const unscheduled = await c.request('GET', `${PODS}/unscheduled/log`);
    assert.equal(unscheduled.status, 200);
    assert.equal(unscheduled.body, '');
  });

  test('init containers run first; -c picks a container; a multi-container pod needs one named', async () => {
    await createPod('multi', {
      initContainers: [{ name: 'init', image: 'busybox', command: [NODEJS, '-e', "require('fs').writeFileSync('init-done', 'yes'); console.log('init ran')"] }],
      containers: [
        { ...serverContainer('web'), readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } },
        {
          name: 'side', image: 'busybox', command: [NODEJS, '-e', "console.log('init said ' + require('fs').readFileSync('init-done', 'utf8')); setInterval(() => {}, 1000)"],
          startupProbe: { exec: { command: [NODEJS, '-e', "process.exit(require('fs').existsSync('init-done') ? 0 : 1)"] }, periodSeconds: 1 },
        },
      ],
    });
    const p = await until(() => runningReady('multi'), 'multi Running and Ready');
    assert.equal(p.status.initContainerStatuses[0].state.terminated.reason, 'Completed');
    assert.equal(p.status.initContainerStatuses[0].state.terminated.exitCode, 0);
    assert.deepEqual(p.status.containerStatuses.map((s: any) => [s.name, s.ready, s.started]), [['side', true, true], ['web', true, true]]);
    assert.equal(await c.k('logs', 'multi', '-c', 'init'), 'init ran\n');
    assert.equal(await until(async () => (await c.k('logs', 'multi', '-c', 'side')) || undefined, 'side logged'), 'init said yes\n');
    const noName = await c.request('GET', `${PODS}/multi/log`);
    assert.equal(noName.status, 400);
    assert.equal(noName.json().message, 'a container name must be specified for pod multi, choose one of: [init web side]');
  });

  test('a failing liveness probe restarts the container; --previous shows the last instance', async () => {
    await createPod('live', {
      containers: [serverContainer('web', {
        env: [{ name: 'FAIL_ONCE', value: '1' }],
        livenessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, failureThreshold: 1, initialDelaySeconds: 1 },
      })],
    });
    const p = await until(async () => {
      const x = await runningReady('live');
      return x && x.status.containerStatuses[0].restartCount === 1 && x;
    }, 'live restarted and Ready again');
    const last = p.status.containerStatuses[0].lastState.terminated;
    assert.equal(last.exitCode, 143, 'node exits on SIGTERM with 128+15');
    assert.equal(last.reason, 'Error');
    assert.ok(last.startedAt && last.finishedAt && last.containerID);
    await hasEvent('live', 'Unhealthy', 'Liveness probe failed: HTTP probe failed with statuscode: 500');
    await hasEvent('live', 'Killing', 'Container web failed liveness probe, will be restarted');
    const bootOf = (s: string) => /^boot (\w+)$/m.exec(s)?.[1];
    const previous = await c.k('logs', 'live', '--previous');
    // The new instance's first line reaches its log through a pipe the agent reads on its own
    // time, unordered with the readiness probe that made it Ready: wait for the line.
    const current = await until(async () => {
      const out = await c.k('logs', 'live');
      return bootOf(out) && out;
    }, 'the boot line of the restarted instance');
    assert.ok(bootOf(previous), previous);
    assert.notEqual(bootOf(previous), bootOf(current));
  });

  test('a container that keeps exiting goes into CrashLoopBackOff with the kubelet\'s back-off', async () => {
    // Every back-off message the pod's status shows, in order, from a watch begun before the pod
    // exists: a back-off step lasts 1 or 2 s here, too short to be sure of catching by polling
    // while kubectl calls run on a loaded machine.
    const listed = await client.get<any>(PODS);
    const backoffs: string[] = [];
    const watch: WatchHandle = client.watch<any>(PODS, { fieldSelector: 'metadata.name=crash', resourceVersion: listed.metadata.resourceVersion }, (ev) => {
      const message = ev.object?.status?.containerStatuses?.[0]?.state?.waiting?.message;
      if (typeof message === 'string' && message.startsWith('back-off ') && backoffs.at(-1) !== message) backoffs.push(message);
    });
    try {
      const created = await createPod('crash', {
        containers: [{ name: 'main', image: 'busybox', command: [NODEJS, '-e', "console.log('crashing'); process.exit(3)"] }],
      });
      const p = await until(async () => {
        const x = await getPod('crash');
        return x.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff' && x;
      }, 'CrashLoopBackOff');
      const cs = p.status.containerStatuses[0];
      assert.match(cs.state.waiting.message, new RegExp(`^back-off (1s|2s|4s) restarting failed container=main pod=crash_default\\(${created.metadata.uid}\\)$`));
      assert.ok(cs.restartCount >= 1);
      assert.equal(cs.lastState.terminated.exitCode, 3);
      assert.equal(cs.lastState.terminated.reason, 'Error');
      assert.equal(p.status.phase, 'Running');
      await hasEvent('crash', 'BackOff', `Back-off restarting failed container main in pod crash_default(${created.metadata.uid})`);
      // kubectl shows the waiting reason while the container backs off.
      await until(async () => /^crash\s+0\/1\s+CrashLoopBackOff\s+\d+ \(\d+s ago\)\s/.test(await c.k('get', 'pod', 'crash', '--no-headers')), 'kubectl get showing CrashLoopBackOff');
      // The back-off can end between the two reads: a fresh instance has an empty log until it
      // prints, so wait for the line rather than reading once.
      await until(async () => (await c.k('logs', 'crash')) === 'crashing\n', 'kubectl logs showing the crashing line');
      // Waits grow: 1s, 2s, then 4s (the maximum here), and stay there.
      await until(() => backoffs.some((m) => m.startsWith('back-off 4s ')), 'a 4s back-off');
      const steps = backoffs.map((m) => /^back-off (\S+) restarting failed container=main pod=crash_default\(/.exec(m)?.[1]);
      const order = ['1s', '2s', '4s'];
      const ranks = steps.map((d) => order.indexOf(d ?? ''));
      assert.ok(ranks.every((r, i) => r >= 0 && (i === 0 || r > ranks[i - 1]!)), `back-offs in order: ${backoffs.join(' | ')}`);
      assert.ok(steps.includes('2s'), `a 2s back-off between: ${backoffs.join(' | ')}`);
      assert.equal(steps.at(-1), '4s');
    } finally {
      watch.stop();
    }
  });

  test('restartPolicy Never: exit 0 is Succeeded (Completed), exit 2 is Failed (Error) with the log as message', async () => {
    await createPod('ok', { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox', command: [NODEJS, '-e', "console.log('done')"] }] });
    await createPod('fail', {
      restartPolicy: 'Never',
      containers: [{ name: 'main', image: 'busybox', terminationMessagePolicy: 'FallbackToLogsOnError', command: [NODEJS, '-e', "console.error('it broke'); process.exit(2)"] }],
    });
    const ok = await until(async () => { const x = await getPod('ok'); return x.status?.phase === 'Succeeded' && x; }, 'ok Succeeded');
    assert.equal(ok.status.containerStatuses[0].state.terminated.reason, 'Completed');
    assert.equal(ok.status.containerStatuses[0].state.terminated.exitCode, 0);
    assert.equal(ok.status.containerStatuses[0].restartCount, 0);
    const fail = await until(async () => { const x = await getPod('fail'); return x.status?.phase === 'Failed' && x; }, 'fail Failed');
    const t = fail.status.containerStatuses[0].state.terminated;
    assert.equal(t.reason, 'Error');
    assert.equal(t.exitCode, 2);
    assert.equal(t.message, 'it broke\n');
    assert.equal(await c.k('logs', 'fail'), 'it broke\n');
    assert.match(await c.k('get', 'pods', 'ok', 'fail', '--no-headers'), /^ok\s+0\/1\s+Completed\s+0\s+\S+\nfail\s+0\/1\s+Error\s+0\s+\S+\n$/);
  });

  test('deletion runs preStop, sends SIGTERM, and SIGKILLs a process that ignores it once the grace period is over', async () => {
    const marks = mkdtempSync(path.join(tmpdir(), 'kubelite-marks-'));
    try {
      const program = `const fs = require('fs'); const dir = process.env.MARK_DIR;
fs.writeFileSync(dir + '/pid', String(process.pid));
process.on('SIGTERM', () => fs.writeFileSync(dir + '/sigterm', String(Date.now())));
setInterval(() => {}, 1000);`;
      await createPod('stubborn', {
        terminationGracePeriodSeconds: 3,
        containers: [{
          name: 'main', image: 'busybox', command: [NODEJS, '-e', program], env: [{ name: 'MARK_DIR', value: marks }],
          lifecycle: { preStop: { exec: { command: [NODEJS, '-e', "require('fs').writeFileSync(process.env.MARK_DIR + '/prestop', String(Date.now()))"] } } },
        }],
      });
      await until(() => runningReady('stubborn'), 'stubborn Running');
      await until(async () => existsSync(path.join(marks, 'pid')), 'the pid file');
      const pid = Number(readFileSync(path.join(marks, 'pid'), 'utf8'));
      const seen: any[] = [];
      let gone = false;
      const watch: WatchHandle = client.watch<any>(PODS, { fieldSelector: 'metadata.name=stubborn' }, (ev) => {
        if (ev.type === 'DELETED') gone = true;
        else seen.push(ev.object);
      });
      try {
        await c.k('delete', 'pod', 'stubborn', '--wait=false');
        await until(async () => gone, 'stubborn deleted');
      } finally {
        watch.stop();
      }
      assert.ok(existsSync(path.join(marks, 'prestop')), 'the preStop hook ran');
      assert.ok(existsSync(path.join(marks, 'sigterm')), 'the process got SIGTERM');
      assert.ok(Number(readFileSync(path.join(marks, 'prestop'), 'utf8')) <= Number(readFileSync(path.join(marks, 'sigterm'), 'utf8')), 'preStop before SIGTERM');
      assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the process is gone');
      const final = seen.reverse().find((o) => o.status?.containerStatuses?.[0]?.state?.terminated);
      assert.equal(final.status.containerStatuses[0].state.terminated.exitCode, 137, 'killed by SIGKILL');
      assert.equal(final.status.containerStatuses[0].state.terminated.reason, 'Error');
      await hasEvent('stubborn', 'Killing', 'Stopping container main');
    } finally {
      rmSync(marks, { recursive: true, force: true });
    }
  });

  test('what cannot run: no command, a missing executable, an unknown RuntimeClass handler; pods of the default runtime have empty logs', async () => {
    await createPod('nocmd', { containers: [{ name: 'main', image: 'nginx' }] });
    const nocmd = await until(async () => {
      const x = await getPod('nocmd');
      return x.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerError' && x;
    }, 'CreateContainerError');
    assert.match(nocmd.status.containerStatuses[0].state.waiting.message, /^failed to generate container "[0-9a-f]{64}" spec: failed to generate spec: no command specified$/);
    const waiting = await c.kubectl(['logs', 'nocmd']);
    assert.equal(waiting.stderr, 'Error from server (BadRequest): container "main" in pod "nocmd" is waiting to start: CreateContainerError\n');

    await createPod('nobinary', { restartPolicy: 'Never', containers: [{ name: 'main', image: 'nginx', command: ['no-such-binary-kubelite'] }] });
    const nobinary = await until(async () => {
      const x = await getPod('nobinary');
      return x.status?.phase === 'Failed' && x;
    }, 'StartError');
    const t = nobinary.status.containerStatuses[0].state.terminated;
    assert.equal(t.reason, 'StartError');
    assert.equal(t.exitCode, 128);
    assert.match(t.message, /exec: "no-such-binary-kubelite": executable file not found in \$PATH: unknown$/);

    await client.create('/apis/node.k8s.io/v1/runtimeclasses', { metadata: { name: 'gvisor' }, handler: 'runsc' });
    await createPod('sandboxed', { runtimeClassName: 'gvisor', containers: [{ name: 'main', image: 'nginx' }] });
    await hasEvent('sandboxed', 'FailedCreatePodSandBox', 'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for "runsc" is configured');
    // The event and the pod's status are separate writes with no order between them (as with the
    // kubelet): wait for the status rather than read it once.
    await until(async () => (await getPod('sandboxed')).status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ContainerCreating', 'sandboxed ContainerCreating');

    await client.create(PODS, { metadata: { name: 'simulated' }, spec: { nodeName: NODE, containers: [{ name: 'main', image: 'nginx' }] } });
    await until(() => runningReady('simulated'), 'simulated Running');
    assert.equal(await c.k('logs', 'simulated'), '');
  });

  test('helpers: $(VAR) expansion and Go duration strings', () => {
    const vars: Record<string, string> = { A: 'x', B: 'y' };
    assert.equal(expand('$(A)-$(B)-$(C)-$$(A)-$A-$(', (n) => vars[n]), 'x-y-$(C)-$(A)-$A-$(');
    assert.deepEqual([300, 1000, 10_000, 80_000, 300_000].map(goDuration), ['300ms', '1s', '10s', '1m20s', '5m0s']);
  });
});

test('lookPath finds what execvp would run, or says why not', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubelite-lookpath-'));
  try {
    for (const d of ['a', 'b']) mkdirSync(path.join(dir, d));
    writeFileSync(path.join(dir, 'a', 'tool'), '#!/bin/sh\n');
    chmodSync(path.join(dir, 'a', 'tool'), 0o644);
    writeFileSync(path.join(dir, 'b', 'tool'), '#!/bin/sh\n');
    chmodSync(path.join(dir, 'b', 'tool'), 0o755);
    const both = `${dir}/a:${dir}/b`;
    assert.deepEqual(lookPath('tool', both, '/'), { file: path.join(dir, 'b', 'tool') }, 'the first executable one in PATH');
    assert.deepEqual(lookPath('tool', `${dir}/a`, '/'), { code: 'EACCES' }, 'found, not executable');
    assert.deepEqual(lookPath('nothing-here', both, '/'), { code: 'ENOENT' });
    assert.deepEqual(lookPath('./b/tool', '', dir), { file: path.join(dir, 'b', 'tool') }, 'a path with a slash is taken from the working directory');
    assert.deepEqual(lookPath(path.join(dir, 'a'), both, '/'), { code: 'EACCES' }, 'a directory');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an exec action runs its command, or says in containerd\'s words why it cannot', async () => {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  assert.deepEqual(await runExec({ command: ['sh', '-c', 'echo out'] }, env, tmpdir(), 10_000), { ok: true, output: 'out\n' });
  assert.deepEqual(await runExec({ command: ['sh', '-c', 'exit 3'] }, env, tmpdir(), 10_000), { ok: false, output: '', exitCode: 3 });
  assert.deepEqual(await runExec({ command: ['no-such-binary-kubelite'] }, env, tmpdir(), 10_000), {
    ok: false, output: 'OCI runtime exec failed: exec failed: unable to start container process: exec: "no-such-binary-kubelite": executable file not found in $PATH: unknown',
  });
});

describe('process runtime: containers do not outlive a kubelite that is killed', () => {
  let c: Cluster | undefined;
  after(async () => { await c?.cleanup(); });

  test('SIGKILL of `up` takes its containers down with it', { skip: !existsSync('/usr/bin/setpriv') && !existsSync('/bin/setpriv') }, async () => {
    c = await startCluster({ components: true });
    const token = `kubelite-orphan-${Math.random().toString(36).slice(2)}`;
    const pod = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'orphan' },
      spec: { runtimeClassName: 'process', containers: [{ name: 'main', image: 'node:20', command: [NODEJS, '-e', `setInterval(() => {}, 1000); // ${token}`] }] },
    };
    const rc = { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'process' }, handler: 'process' };
    for (const o of [rc, pod]) {
      const r = await c.kubectl(['apply', '-f', '-'], { input: JSON.stringify(o) });
      assert.equal(r.code, 0, r.stderr);
    }
    const running = () => spawnSync('pgrep', ['-f', token], { encoding: 'utf8' }).stdout.trim();
    await until(async () => JSON.parse(await c!.k('get', 'pod', 'orphan', '-o', 'json')).status?.phase === 'Running' && running() !== '', 'the container running');
    await c.stop('SIGKILL');
    await until(() => running() === '', `the container's process gone after the SIGKILL (still: ${running()})`, 10_000);
  });
});

