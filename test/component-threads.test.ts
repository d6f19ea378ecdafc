// `kubelite up` runs its controllers, scheduler, node agents and proxy on worker threads of their
// own: they work as before, a component that cannot start fails the start with its own error, and
// SIGTERM stops every thread and the process cleanly.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';
import { startComponentThreads } from '../src/cli/components.js';
import { logger } from '../src/util/log.js';

describe('component threads of kubelite up', () => {
  let c: Cluster | undefined;
  after(async () => { await c?.cleanup(); });

  test('the components work from their threads, and SIGTERM stops all of them', async () => {
    c = await startCluster({ components: true, args: ['--nodes', 'n1,n2', '--pod-start-delay', '0ms'] });
    await c.k('create', 'deployment', 'web', '--image', 'nginx:1.27', '--replicas', '3');
    const ready = await until(async () => {
      const out = await c!.k('get', 'pods', '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.spec.nodeName} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}');
      const lines = out.trim().split('\n').filter((l) => l.endsWith(' True'));
      return lines.length === 3 ? lines : undefined;
    }, '3 Ready pods');
    assert.ok(ready.every((l) => /^n[12] True$/.test(l)), ready.join('; '));
    // One start line from each group, each written from its thread.
    for (const group of ['controllers', 'scheduler', 'nodes', 'proxy']) {
      assert.match(c.logs(), new RegExp(`"component":"${group}".*running`), `no start line of ${group}`);
    }
    assert.equal(await c.stop('SIGTERM'), 0);
    assert.doesNotMatch(c.logs(), /component thread crashed/);
    assert.match(c.logs(), /"msg":"stopped"/);
  });

  test('a group that cannot start fails the start with its error, and no thread is left', async () => {
    const started = startComponentThreads({
      // Nothing listens here; the nodes group fails before it talks to the API.
      server: 'https://127.0.0.1:1', caPem: '', token: 'x',
      enabled: new Set(['nodes']), nodes: ['n1'], runtimes: ['no-such-runtime'],
      clusterCIDR: '', nodeCIDRMaskSize: 0, nodePods: 10, podStartDelayMs: 0, podStartJitterMs: 0, nodeMonitorGracePeriodMs: 0,
      log: logger('test'),
    }, () => assert.fail('no crash is expected after a failed start'));
    await assert.rejects(started, /unknown runtime handler "no-such-runtime"/);
    // The test process exits by itself only if the failed thread was terminated.
  });
});
