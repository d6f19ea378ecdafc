// Taint-based eviction, after kube-controller-manager's taint-eviction-controller
// (pkg/controller/tainteviction/taint_eviction.go, v1.32): pods on a node with NoExecute taints
// they do not tolerate are deleted at once; pods that tolerate them for tolerationSeconds (the
// API server gives every pod 300 s for not-ready and unreachable) are deleted when that runs out,
// unless the taints go first. Before deleting, the pod gets the DisruptionTarget condition.
import type { Node, Pod, Taint, Toleration } from 'kubernetes-types/core/v1.js';
import type { ControllerContext } from '../client/factory.js';
import { keyOf, splitKey, type Informer } from '../client/informer.js';
import type { Reconciler } from '../client/controller.js';
import { WorkQueue } from '../client/workqueue.js';
import type { EventRecorder } from '../client/events.js';
import { isNotFound } from '../client/rest.js';
import type { KObject } from '../api/types.js';
import { logger } from '../util/log.js';
import { matchingTolerations } from './taints.js';
import { NODE_NAME_INDEX } from './nodelifecycle.js';

type NodeObject = Node & KObject;
type PodObject = Pod & KObject;

const log = logger('taint-eviction-controller');

const noExecuteTaints = (n: Node | undefined) => (n?.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute');

/** getMinTolerationTime: the shortest tolerationSeconds (≤ 0 means now), -1 when all tolerate forever. */
function minTolerationMs(used: Toleration[]): number {
  if (!used.length) return 0;
  let min = Infinity;
  for (const t of used) {
    if (t.tolerationSeconds === undefined || t.tolerationSeconds === null) continue;
    if (t.tolerationSeconds <= 0) return 0;
    min = Math.min(min, t.tolerationSeconds);
  }
  return min === Infinity ? -1 : min * 1000;
}

const sameTaints = (a: Taint[], b: Taint[]) =>
  a.length === b.length && a.every((t, i) => t.key === b[i]!.key && t.value === b[i]!.value && t.effect === b[i]!.effect && t.timeAdded === b[i]!.timeAdded);
// The informer hands an updated pod its cached tolerations array when they did not change, so the
// identity check settles most pod updates without encoding anything.
const sameTolerations = (a: Toleration[] | undefined, b: Toleration[] | undefined) => a === b || JSON.stringify(a ?? []) === JSON.stringify(b ?? []);

export class TaintEvictionController implements Reconciler {
  readonly name = 'taint-eviction-controller';
  readonly queue = new WorkQueue(this.name);
  private readonly nodes: Informer<NodeObject>;
  private readonly pods: Informer<PodObject>;
  private readonly recorder: EventRecorder;
  /** NoExecute taints per node, as last seen. */
  private readonly tainted = new Map<string, Taint[]>();
  /** Scheduled deletions per pod key. */
  private readonly scheduled = new Map<string, { createdAt: number; timer: NodeJS.Timeout }>();
  private stopped = false;

  constructor(private readonly ctx: ControllerContext) {
    this.nodes = ctx.informers.informer<NodeObject>('nodes');
    this.pods = ctx.informers.informer<PodObject>('pods');
    this.recorder = ctx.recorder({ component: this.name });
  }

  async start(): Promise<void> {
    this.pods.addIndex(NODE_NAME_INDEX, (p) => (p.spec?.nodeName ? [p.spec.nodeName] : []));
    this.pods.on({
      add: (p) => this.queue.add(`pod/${keyOf(p)}`),
      update: (o, p) => {
        if (o.spec?.nodeName !== p.spec?.nodeName || !sameTolerations(o.spec?.tolerations, p.spec?.tolerations)) this.queue.add(`pod/${keyOf(p)}`);
      },
      delete: (p) => this.queue.add(`pod/${keyOf(p)}`),
    });
    this.nodes.on({
      add: (n) => this.queue.add(`node/${n.metadata.name}`),
      update: (o, n) => {
        if (!sameTaints(noExecuteTaints(o), noExecuteTaints(n))) this.queue.add(`node/${n.metadata.name}`);
      },
      delete: (n) => this.queue.add(`node/${n.metadata.name}`),
    });
    await Promise.all([this.nodes.start(), this.pods.start()]);
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.scheduled.values()) clearTimeout(s.timer);
    this.scheduled.clear();
  }

  async reconcile(key: string): Promise<void> {
    if (key.startsWith('node/')) this.handleNode(key.slice(5));
    else this.handlePod(key.slice(4));
  }

  private handleNode(name: string): void {
    const node = this.nodes.get(name);
    if (!node) {
      this.tainted.delete(name);
      return;
    }
    const taints = noExecuteTaints(node);
    if (taints.length) this.tainted.set(name, taints);
    else this.tainted.delete(name);
    const pods = this.pods.byIndex(NODE_NAME_INDEX, name);
    const now = Date.now();
    for (const p of pods) {
      if (!taints.length) this.cancel(keyOf(p));
      else this.processPod(keyOf(p), p.spec?.tolerations ?? [], taints, now);
    }
  }

  private handlePod(podKey: string): void {
    const pod = this.pods.get(podKey);
    if (!pod) {
      this.cancel(podKey);
      return;
    }
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) return;
    const taints = this.tainted.get(nodeName);
    // Without taints on its node any pending eviction was cancelled when they went.
    if (!taints) return;
    this.processPod(podKey, pod.spec?.tolerations ?? [], taints, Date.now());
  }

  /** processPodOnNode. */
  private processPod(podKey: string, tolerations: Toleration[], taints: Taint[], now: number): void {
    if (!taints.length) {
      this.cancel(podKey);
      return;
    }
    const { all, used } = matchingTolerations(taints, tolerations);
    if (!all) {
      this.cancel(podKey);
      this.schedule(podKey, now, now);
      return;
    }
    const min = minTolerationMs(used);
    if (min < 0) {
      this.cancel(podKey);
      return;
    }
    // An eviction already scheduled keeps its time (upstream keeps the earlier-created one).
    if (this.scheduled.has(podKey)) return;
    this.schedule(podKey, now, now + min);
  }

  private schedule(podKey: string, createdAt: number, fireAt: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.scheduled.delete(podKey);
      void this.evict(podKey);
    }, Math.max(0, fireAt - Date.now()));
    timer.unref();
    this.scheduled.set(podKey, { createdAt, timer });
  }

  private podRef(podKey: string) {
    const { namespace, name } = splitKey(podKey);
    return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace } };
  }

  private cancel(podKey: string): void {
    const s = this.scheduled.get(podKey);
    if (!s) return;
    clearTimeout(s.timer);
    this.scheduled.delete(podKey);
    this.recorder.event(this.podRef(podKey), 'Normal', 'TaintManagerEviction', `Cancelling deletion of Pod ${podKey}`);
  }

  /** deletePodHandler: an event, the DisruptionTarget condition, then an ordinary (graceful) delete; five tries. */
  private async evict(podKey: string): Promise<void> {
    if (this.stopped) return;
    log.info({ pod: podKey }, 'deleting pod');
    this.recorder.event(this.podRef(podKey), 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${podKey}`);
    const { namespace, name } = splitKey(podKey);
    const path = `/api/v1/namespaces/${namespace}/pods/${name}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const pod = await this.ctx.client.get<PodObject>(path);
        const target = pod.status?.conditions?.find((c) => c.type === 'DisruptionTarget');
        if (target?.status !== 'True' || target.reason !== 'DeletionByTaintManager') {
          await this.ctx.client.patch(`${path}/status`, {
            metadata: { uid: pod.metadata.uid },
            status: { conditions: [{
              type: 'DisruptionTarget', status: 'True', reason: 'DeletionByTaintManager',
              message: 'Taint manager: deleting due to NoExecute taint',
              lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
            }] },
          }, 'strategic');
        }
        await this.ctx.client.delete(path, { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: pod.metadata.uid } });
        return;
      } catch (e) {
        if (isNotFound(e)) return;
        log.warn({ pod: podKey, err: (e as Error).message }, 'eviction failed');
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }
}
