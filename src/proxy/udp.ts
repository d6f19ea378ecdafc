// Relaying UDP for one service frontend. A flow is what conntrack would track: datagrams from
// one client address:port. Its first datagram picks the endpoint; the flow then has a socket of
// its own towards that endpoint, whose replies go back to the client from the frontend's
// address, so the client sees answers from the address it sent to. Flows end after an idle
// time, and at once when their endpoint stops being usable (kube-proxy clears conntrack entries
// of stale UDP endpoints for the same reason: otherwise a client keeps sending into a void).
import dgram from 'node:dgram';
import type { Balancer } from './balancer.js';
import type { ProxyEndpoint } from './endpoints.js';
import type { ProxyCounters } from './metrics.js';

interface Flow {
  upstream: dgram.Socket;
  endpoint: ProxyEndpoint;
  lastActive: number;
}

export class UdpRelay {
  private readonly flows = new Map<string, Flow>();

  constructor(
    private readonly frontend: dgram.Socket,
    /** Read on every new flow: the listener's balancer may be replaced when its service changes. */
    private readonly balancer: () => Balancer<ProxyEndpoint>,
    private readonly counters: ProxyCounters,
  ) {
    frontend.on('message', (msg, rinfo) => this.forward(msg, rinfo));
  }

  get size(): number {
    return this.flows.size;
  }

  private forward(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const id = `${rinfo.address}|${rinfo.port}`;
    let flow = this.flows.get(id);
    if (!flow) {
      const endpoint = this.balancer().pick(rinfo.address);
      if (!endpoint) {
        this.counters.rejected.UDP++;
        return;
      }
      const upstream = dgram.createSocket(rinfo.family === 'IPv6' ? 'udp6' : 'udp4');
      const f: Flow = { upstream, endpoint, lastActive: Date.now() };
      flow = f;
      upstream.on('message', (reply, from) => {
        if (from.port !== endpoint.port || from.address !== endpoint.ip) return;
        f.lastActive = Date.now();
        this.frontend.send(reply, rinfo.port, rinfo.address);
      });
      upstream.on('error', () => this.end(id));
      this.flows.set(id, f);
      this.counters.accepted.UDP++;
      this.counters.active.UDP++;
    } else {
      flow.lastActive = Date.now();
    }
    flow.upstream.send(msg, flow.endpoint.port, flow.endpoint.ip);
  }

  private end(id: string): void {
    const flow = this.flows.get(id);
    if (!flow) return;
    this.flows.delete(id);
    this.counters.active.UDP--;
    flow.upstream.close();
  }

  /** End flows idle for longer than `idleMs`. */
  sweep(idleMs: number, now = Date.now()): void {
    for (const [id, flow] of this.flows) if (now - flow.lastActive > idleMs) this.end(id);
  }

  /** End flows whose endpoint is no longer usable. */
  prune(): void {
    const b = this.balancer();
    for (const [id, flow] of this.flows) if (!b.has(flow.endpoint.key)) this.end(id);
  }

  close(): void {
    for (const id of [...this.flows.keys()]) this.end(id);
  }
}
