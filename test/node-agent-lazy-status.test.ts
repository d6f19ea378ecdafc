// The node agent's status writes while its pod watch lags behind them (src/node/agent.ts
// syncPodStatus / currentStatus): a status write's answer is kept as text, and its status is
// parsed only if the pod is synced again before the watch shows the write. The next patch is then
// computed against that parsed status. Here the agent's pod informer is held back (MODIFIED events
// wait until released), so that every write after the first goes through that lazy parse; each
// patch must then be exactly the change from the status the server held (what the answer of the
// previous write carried), nothing more, and the pod must end as it would without the lag.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAgentCluster, PODS, type AgentCluster } from './helpers/node-agents.js';
import { until } from './helpers/wait.js';
import { RESOURCES } from '../src/api/resources.js';
import { Informer } from '../src/client/informer.js';
import { startController } from '../src/client/controller.js';
import type { RestClient, WatchEvent } from '../src/client/rest.js';
import { NodeAgent } from '../src/node/agent.js';
import { statusPatch } from '../src/node/status-patch.js';

const NODE = 'lazy01';
const POD_RESOURCE = RESOURCES.find((r) => r.plural === 'pods')!;

interface SentPatch {
  /** The status part of the patch body. */
  patch: Record<string, unknown>;
  /** The pod's status in the write's answer (what the server holds after it). */
  answerStatus: Record<string, unknown>;
  answerRV: string;
  /** The resourceVersion of the agent's cached pod when the patch was sent. */
  cachedRV: string | undefined;
}

describe('node agent: status writes while the pod watch lags', () => {
  let h: AgentCluster;
  let informer: Informer<any>;
  let stopAgent: () => void;
  const sent: SentPatch[] = [];
  /** Pod watch events held back while `holding`, in order. */
  const held: (() => void)[] = [];
  let holding = false;

  before(async () => {
    h = await startAgentCluster({ userAgent: 'lazy-status-test' });
    const real = h.client;
    // The agent's client: records its pod status patches and the answers; its pod watch can be held.
    const lagging = new Proxy(real, {
      get(target, prop) {
        if (prop === 'patch') {
          return async (path: string, body: any, ...rest: unknown[]) => {
            const cachedRV = informer.get(`default/${path.split('/')[5]}`)?.metadata.resourceVersion;
            const answer: any = await (target.patch as (...a: unknown[]) => Promise<unknown>).call(target, path, body, ...rest);
            if (path.endsWith('/status') && path.includes('/pods/')) {
              sent.push({ patch: body.status, answerStatus: JSON.parse(answer.text).status, answerRV: answer.metadata.resourceVersion, cachedRV });
            }
            return answer;
          };
        }
        if (prop === 'watch') {
          return (path: string, query: unknown, onEvent: (e: WatchEvent) => void, options: unknown) =>
            target.watch(path, query as never, (ev) => {
              if (!path.endsWith('/pods') || !(holding || held.length) || ev.type === 'BOOKMARK') onEvent(ev);
              else if (ev.type === 'ADDED' && !held.length) onEvent(ev);
              else held.push(() => onEvent(ev));
            }, options as never);
        }
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as RestClient;
    informer = new Informer<any>(lagging, POD_RESOURCE, { fieldSelector: `spec.nodeName=${NODE}` });
    const agent = new NodeAgent({
      nodeName: NODE, client: lagging, sharedPods: informer, leaseRenewIntervalMs: 1000,
      sim: { startDelayMs: 300, startJitterMs: 0 },
    });
    const ctl = await startController(agent, 2);
    stopAgent = () => {
      ctl.stop();
      informer.stop();
    };
    await until(async () => !!(await h.client.get<any>(`/api/v1/nodes/${NODE}`)).spec?.podCIDR, `${NODE} has a podCIDR`);
  });

  after(async () => {
    stopAgent?.();
    await h?.stop();
  });

  test('each patch sent before the watch caught up is the change from the last written status', async () => {
    holding = true;
    await h.client.create(PODS, { metadata: { name: 'lazy' }, spec: { nodeName: NODE, containers: [{ name: 'c', image: 'nginx' }] } });
    // The agent's own record of its writes, not the API: a GET may see the last write before the
    // agent has read its answer.
    const isReady = (st: any) => st.phase === 'Running' && st.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
    await until(() => sent.some((s) => isReady(s.answerStatus)), 'the agent wrote Running and Ready');
    const running = await h.getPod('lazy');
    assert.ok(isReady(running.status));
    const cached = informer.get('default/lazy');
    assert.ok(cached, 'the informer saw the pod added');
    assert.notEqual(cached.metadata.resourceVersion, running.metadata.resourceVersion, 'the agent\'s watch was held back');
    assert.ok(sent.length >= 2, `status patches sent: ${sent.length}`);

    for (let i = 1; i < sent.length; i++) {
      const prev = sent[i - 1]!, cur = sent[i]!;
      // The watch had not shown the previous write: the agent's base was that write's answer.
      assert.ok(BigInt(cur.cachedRV ?? '0') < BigInt(prev.answerRV), `patch ${i} was sent with the watch behind the previous write`);
      // Computed from the right base, the patch is exactly the change the server made of it.
      assert.deepEqual(cur.patch, statusPatch(prev.answerStatus, cur.answerStatus), `patch ${i}: ${JSON.stringify(cur.patch)}`);
    }
    const last = sent.at(-1)!;
    assert.equal(last.answerStatus.phase, 'Running');
    assert.equal(last.answerStatus.podIP, running.status.podIP);

    // Released, the watch catches up and the agent has nothing more to write.
    holding = false;
    for (const deliver of held.splice(0)) deliver();
    await until(async () => informer.get('default/lazy')?.metadata.resourceVersion === running.metadata.resourceVersion, 'the informer caught up');
    const count = sent.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sent.length, count, 'no write after the watch caught up');
    assert.deepEqual((await h.getPod('lazy')).status, running.status);
  });
});
