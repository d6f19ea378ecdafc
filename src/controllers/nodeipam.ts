// Node IPAM: gives every Node a podCIDR from the cluster CIDR, after kube-controller-manager's
// range allocator (pkg/controller/nodeipam/ipam/range_allocator.go, cidrset): /24 blocks of the
// cluster CIDR by default, handed out round-robin from the last one, never one block to two nodes;
// blocks overlapping the service CIDR are never used. Nothing is persisted: at start the blocks
// that existing Nodes show are marked taken before any new one is handed out.
import type { Node } from 'kubernetes-types/core/v1.js';
import type { ControllerContext } from '../client/factory.js';
import type { Informer } from '../client/informer.js';
import type { Reconciler } from '../client/controller.js';
import { WorkQueue } from '../client/workqueue.js';
import type { EventRecorder } from '../client/events.js';
import { isNotFound } from '../client/rest.js';
import type { KObject } from '../api/types.js';
import { logger } from '../util/log.js';
import { formatCIDR4, parseCIDR4, type CIDR4 } from '../node/ipam.js';

export const DEFAULT_CLUSTER_CIDR = '127.244.0.0/16';

export interface NodeIPAMOptions {
  /** kube-controller-manager --cluster-cidr (default 127.244.0.0/16). */
  clusterCIDR?: string;
  /** --node-cidr-mask-size (default 24). */
  nodeCIDRMaskSize?: number;
  /** --service-cluster-ip-range: blocks overlapping it are never handed out. */
  serviceCIDR?: string;
}

type NodeObject = Node & KObject;

const log = logger('node-ipam-controller');

/** The blocks of one size in the cluster CIDR, as upstream's CidrSet: a bitmap and a round-robin cursor. */
class CIDRSet {
  readonly count: number;
  private readonly taken = new Map<number, string>();
  private next = 0;

  constructor(readonly cluster: CIDR4, readonly maskSize: number) {
    if (maskSize < cluster.prefix || maskSize > 32) throw new Error(`node CIDR mask size /${maskSize} does not fit the cluster CIDR ${formatCIDR4(cluster)}`);
    if (maskSize - cluster.prefix > 16) throw new Error(`the cluster CIDR ${formatCIDR4(cluster)} holds more than 65536 blocks of /${maskSize}`);
    this.count = 2 ** (maskSize - cluster.prefix);
  }

  private blockSize(): number {
    return 2 ** (32 - this.maskSize);
  }

  cidrOf(index: number): string {
    return formatCIDR4({ base: this.cluster.base + index * this.blockSize(), prefix: this.maskSize });
  }

  /** The indices of the blocks a CIDR covers or lies in (none when it is outside the cluster CIDR). */
  indicesOf(cidr: string): number[] {
    let c: CIDR4;
    try {
      c = parseCIDR4(cidr);
    } catch {
      return [];
    }
    const lo = Math.max(c.base, this.cluster.base);
    const hi = Math.min(c.base + c.size, this.cluster.base + this.cluster.size);
    if (lo >= hi) return [];
    const first = Math.floor((lo - this.cluster.base) / this.blockSize());
    const last = Math.floor((hi - 1 - this.cluster.base) / this.blockSize());
    return Array.from({ length: last - first + 1 }, (_, i) => first + i);
  }

  holder(index: number): string | undefined {
    return this.taken.get(index);
  }

  occupy(index: number, owner: string): void {
    this.taken.set(index, owner);
  }

  release(index: number, owner: string): void {
    if (this.taken.get(index) === owner) this.taken.delete(index);
  }

  /** The next free block after the last one handed out, or undefined when all are taken. */
  allocate(owner: string): number | undefined {
    for (let i = 0; i < this.count; i++) {
      const index = (this.next + i) % this.count;
      if (!this.taken.has(index)) {
        this.taken.set(index, owner);
        this.next = (index + 1) % this.count;
        return index;
      }
    }
    return undefined;
  }
}

export class NodeIPAMController implements Reconciler {
  readonly name = 'node-ipam-controller';
  readonly queue = new WorkQueue(this.name);
  private readonly nodes: Informer<NodeObject>;
  private readonly set: CIDRSet;
  private readonly recorder: EventRecorder;
  /** Block index per node name, for nodes whose podCIDR we know (seen or being written). */
  private readonly byNode = new Map<string, { index: number; uid: string; observed: boolean }>();

  constructor(private readonly ctx: ControllerContext, opts: NodeIPAMOptions = {}) {
    const cluster = parseCIDR4(opts.clusterCIDR ?? DEFAULT_CLUSTER_CIDR);
    this.set = new CIDRSet(cluster, opts.nodeCIDRMaskSize ?? 24);
    if (opts.serviceCIDR) for (const i of this.set.indicesOf(opts.serviceCIDR)) this.set.occupy(i, '<service CIDR>');
    this.nodes = ctx.informers.informer<NodeObject>('nodes');
    this.recorder = ctx.recorder({ component: 'node-controller' });
  }

  async start(): Promise<void> {
    this.nodes.on({
      add: (n) => this.queue.add(n.metadata.name!),
      update: (o, n) => {
        if (o.spec?.podCIDR !== n.spec?.podCIDR || !n.spec?.podCIDR) this.queue.add(n.metadata.name!);
      },
      delete: (n) => this.queue.add(n.metadata.name!),
    });
    await this.nodes.start();
    // Blocks that existing nodes hold are taken before anything is handed out.
    for (const n of this.nodes.list()) this.observe(n);
  }

  stop(): void {
    // Shared informers are stopped by their factory.
  }

  /** Record a node's podCIDRs as taken by it. */
  private observe(n: NodeObject): void {
    const name = n.metadata.name!;
    for (const cidr of n.spec?.podCIDRs?.length ? n.spec.podCIDRs : n.spec?.podCIDR ? [n.spec.podCIDR] : []) {
      const indices = this.set.indicesOf(cidr);
      if (!indices.length) continue; // another family or range: not ours to manage
      const prev = this.byNode.get(name);
      if (prev && prev.index !== indices[0]) this.set.release(prev.index, name);
      for (const i of indices) {
        const holder = this.set.holder(i);
        if (holder !== undefined && holder !== name) log.warn({ node: name, cidr, holder }, 'podCIDR is already allocated to another node');
        else this.set.occupy(i, name);
      }
      this.byNode.set(name, { index: indices[0]!, uid: n.metadata.uid!, observed: true });
    }
  }

  async reconcile(name: string): Promise<void> {
    const node = this.nodes.get(name);
    const known = this.byNode.get(name);
    if (!node || (known && known.uid !== node.metadata.uid)) {
      // Deleted (or replaced): its block is free again.
      if (known) {
        this.set.release(known.index, name);
        this.byNode.delete(name);
      }
      if (!node) return;
    }
    if (node.spec?.podCIDR || node.spec?.podCIDRs?.length) {
      this.observe(node);
      return;
    }
    // A block handed out but not yet seen on the node (the watch lags our write) is written again, never a second one.
    let index = this.byNode.get(name)?.index;
    if (index === undefined) {
      index = this.set.allocate(name);
      if (index === undefined) {
        this.recorder.event({ apiVersion: 'v1', kind: 'Node', metadata: { name, uid: node.metadata.uid } }, 'Normal', 'CIDRNotAvailable', `Node ${name} status is now: CIDRNotAvailable`);
        throw new Error(`no remaining CIDRs in ${formatCIDR4(this.set.cluster)} for node ${name}`);
      }
      this.byNode.set(name, { index, uid: node.metadata.uid!, observed: false });
    }
    const cidr = this.set.cidrOf(index);
    try {
      await this.ctx.client.patch(`/api/v1/nodes/${name}`, { metadata: { uid: node.metadata.uid }, spec: { podCIDR: cidr, podCIDRs: [cidr] } }, 'strategic');
      log.info({ node: name, podCIDR: cidr }, 'set node podCIDR');
    } catch (e) {
      if (isNotFound(e)) return;
      this.recorder.event({ apiVersion: 'v1', kind: 'Node', metadata: { name, uid: node.metadata.uid } }, 'Normal', 'CIDRAssignmentFailed', `Node ${name} status is now: CIDRAssignmentFailed`);
      throw e;
    }
  }
}
