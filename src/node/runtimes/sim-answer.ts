// Pods that answer, for the sim runtime: while a simulated pod runs, it listens on its pod IP at
// its declared containerPorts and at every port a Service targets it on (a numeric targetPort,
// or the Service port when targetPort is unset; named targetPorts resolve to containerPorts,
// which are listened on anyway). What it says:
//
// - HTTP (a connection whose first bytes are an HTTP/1 request line): every request gets
//   `200 OK`, `Content-Type: text/plain`, the headers `X-Kubelite-Pod: <pod name>` and
//   `X-Kubelite-Pod-Namespace: <namespace>`, and the body `<pod name>\n`; keep-alive works.
// - Any other TCP connection: an echo of what it sends (half-close: the echo ends when the
//   client's sending side does).
// - UDP: each datagram comes back prefixed with `<pod name>: `.
//
// A pod being deleted is first drained (drain()): it goes on answering, but every HTTP response
// says `Connection: close`, so that keep-alive clients open their next connection through the
// proxy, which no longer sends new connections here. Listeners close, and open connections are
// cut, when the pod's containers have stopped, as a process that exits. hostNetwork pods do not
// answer: every simulated node shares 127.0.0.1, where their ports would collide.
import net from 'node:net';
import dgram from 'node:dgram';
import http from 'node:http';
import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import type { Informer } from '../../client/informer.js';
import type { KObject } from '../../api/types.js';
import { logger } from '../../util/log.js';

export const POD_NAME_HEADER = 'X-Kubelite-Pod';
export const POD_NAMESPACE_HEADER = 'X-Kubelite-Pod-Namespace';

type ServiceObject = Service & KObject;
type Protocol = 'TCP' | 'UDP';

const log = logger('sim-answer');
const HTTP_METHODS = ['GET ', 'HEAD ', 'POST ', 'PUT ', 'DELETE ', 'OPTIONS ', 'PATCH ', 'TRACE ', 'CONNECT '];
/** How long a connection whose first bytes could still become an HTTP request line waits for more. */
const SNIFF_WAIT_MS = 200;

/** `http` when the bytes start an HTTP request line, `echo` when they cannot, `more` when too few to tell. */
export function sniff(head: Buffer): 'http' | 'echo' | 'more' {
  const s = head.toString('latin1', 0, Math.min(head.length, 8));
  let more = false;
  for (const m of HTTP_METHODS) {
    if (s.length >= m.length ? s.startsWith(m) : m.startsWith(s)) {
      if (s.length >= m.length) return 'http';
      more = true;
    }
  }
  return more ? 'more' : 'echo';
}

interface AnsweringPod {
  uid: string;
  name: string;
  namespace: string;
  ip: string;
  pod: Pod;
  /** `TCP/8080` → its listener. */
  listeners: Map<string, net.Server | dgram.Socket>;
  sockets: Set<net.Socket>;
  /** Being deleted: HTTP connections end after the response they carry. */
  draining: boolean;
}

/** Whether a Service's selector picks the pod (a Service without selector picks none). */
function selects(svc: Service, pod: Pod): boolean {
  const sel = svc.spec?.selector;
  if (!sel || !Object.keys(sel).length) return false;
  const labels = pod.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(sel)) if (labels[k] !== v) return false;
  return true;
}

export class PodAnswerer {
  private readonly pods = new Map<string, AnsweringPod>();
  private readonly byNamespace = new Map<string, Set<string>>();
  private readonly podOfSocket = new WeakMap<net.Socket, AnsweringPod>();
  /** Bind failures already logged (`code port`): one line per cause, not one per pod. */
  private readonly logged = new Set<string>();
  /** Parses HTTP for every pod; it never listens itself, connections are handed to it. */
  private readonly http: http.Server;
  private closed = false;

  constructor(private readonly services?: Informer<ServiceObject>) {
    this.http = http.createServer((req, res) => {
      const p = this.podOfSocket.get(req.socket);
      const name = p?.name ?? '';
      res.writeHead(200, {
        'Content-Type': 'text/plain; charset=utf-8',
        [POD_NAME_HEADER]: name,
        [POD_NAMESPACE_HEADER]: p?.namespace ?? '',
        // Node's server closes the connection once this response is sent.
        ...(p?.draining ? { Connection: 'close' } : {}),
      });
      res.end(`${name}\n`);
    });
    if (services) {
      services.on({
        add: (s) => this.serviceChanged(s),
        update: (old, s) => {
          this.serviceChanged(old);
          this.serviceChanged(s);
        },
        delete: (s) => this.serviceChanged(s),
      });
      // Started here unless its owner did already; never stopped here (it may be shared).
      void services.start();
    }
  }

  /** Start answering for a pod whose containers run. */
  open(pod: Pod, ip: string): void {
    const uid = pod.metadata!.uid!;
    if (this.closed || this.pods.has(uid) || pod.spec?.hostNetwork || !ip) return;
    const p: AnsweringPod = {
      uid, pod, ip, name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '',
      listeners: new Map(), sockets: new Set(), draining: false,
    };
    this.pods.set(uid, p);
    let ns = this.byNamespace.get(p.namespace);
    if (!ns) this.byNamespace.set(p.namespace, (ns = new Set()));
    ns.add(uid);
    this.sync(p);
  }

  /**
   * The pod is being deleted: keep answering, but end each HTTP connection after its next
   * response, so that keep-alive clients move to other pods before this one stops. Idle
   * connections are left alone: closing one races with a request the client may be sending.
   */
  drain(uid: string): void {
    const p = this.pods.get(uid);
    if (p) p.draining = true;
  }

  /** Stop answering: close the listeners and cut open connections, as an exiting process does. */
  close(uid: string): void {
    const p = this.pods.get(uid);
    if (!p) return;
    this.pods.delete(uid);
    const ns = this.byNamespace.get(p.namespace);
    ns?.delete(uid);
    if (ns && !ns.size) this.byNamespace.delete(p.namespace);
    for (const l of p.listeners.values()) l.close();
    p.listeners.clear();
    for (const s of p.sockets) s.destroy();
    p.sockets.clear();
  }

  closeAll(): void {
    for (const uid of [...this.pods.keys()]) this.close(uid);
    this.closed = true;
  }

  /** The ports the pod should listen on: its containerPorts and the ports Services target it on. */
  private wantedPorts(p: AnsweringPod): Map<string, { protocol: Protocol; port: number }> {
    const out = new Map<string, { protocol: Protocol; port: number }>();
    const add = (protocol: string | undefined, port: number | undefined) => {
      const proto = protocol ?? 'TCP';
      if ((proto === 'TCP' || proto === 'UDP') && port && port > 0 && port < 65536) out.set(`${proto}/${port}`, { protocol: proto, port });
    };
    for (const c of [...(p.pod.spec?.initContainers ?? []), ...(p.pod.spec?.containers ?? [])]) {
      for (const cp of c.ports ?? []) add(cp.protocol, cp.containerPort);
    }
    if (this.services) {
      for (const svc of this.services.list(p.namespace)) {
        if (!selects(svc, p.pod)) continue;
        for (const sp of svc.spec?.ports ?? []) {
          const target = sp.targetPort ?? sp.port;
          if (typeof target === 'number') add(sp.protocol, target);
          else if (/^\d+$/.test(target)) add(sp.protocol, Number(target));
        }
      }
    }
    return out;
  }

  private serviceChanged(svc: Service): void {
    const uids = this.byNamespace.get(svc.metadata?.namespace ?? '');
    if (!uids) return;
    for (const uid of uids) {
      const p = this.pods.get(uid)!;
      if (selects(svc, p.pod)) this.sync(p);
    }
  }

  /** Open the listeners the pod should have and close the others (connections on them go on). */
  private sync(p: AnsweringPod): void {
    const wanted = this.wantedPorts(p);
    for (const [key, l] of p.listeners) {
      if (wanted.has(key)) continue;
      l.close();
      p.listeners.delete(key);
    }
    for (const [key, w] of wanted) {
      if (p.listeners.has(key)) continue;
      p.listeners.set(key, w.protocol === 'TCP' ? this.listenTCP(p, key, w.port) : this.listenUDP(p, key, w.port));
    }
  }

  private bindFailed(p: AnsweringPod, key: string, err: NodeJS.ErrnoException): void {
    if (p.listeners.get(key)) p.listeners.delete(key);
    const cause = `${err.code} ${key}`;
    if (this.logged.has(cause)) return;
    this.logged.add(cause);
    const hint = err.code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
      : err.code === 'EADDRNOTAVAIL' ? ' (pod IPs must be local addresses, e.g. in 127.0.0.0/8)' : '';
    log.warn({ pod: `${p.namespace}/${p.name}`, address: `${p.ip}:${key}`, code: err.code }, `simulated pod cannot listen on ${key}${hint}; further pods failing the same way are not logged`);
  }

  private listenTCP(p: AnsweringPod, key: string, port: number): net.Server {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.answer(p, socket));
    server.on('error', (err) => this.bindFailed(p, key, err));
    server.listen({ host: p.ip, port });
    return server;
  }

  private listenUDP(p: AnsweringPod, key: string, port: number): dgram.Socket {
    const socket = dgram.createSocket(p.ip.includes(':') ? 'udp6' : 'udp4');
    const prefix = Buffer.from(`${p.name}: `);
    socket.on('message', (msg, rinfo) => socket.send(Buffer.concat([prefix, msg]), rinfo.port, rinfo.address));
    socket.on('error', (err) => {
      this.bindFailed(p, key, err);
      try {
        socket.close();
      } catch {
        // already closed
      }
    });
    socket.bind({ address: p.ip, port });
    return socket;
  }

  /** Look at the first bytes: an HTTP request goes to the HTTP server, anything else is echoed. */
  private answer(p: AnsweringPod, socket: net.Socket): void {
    if (!this.pods.has(p.uid)) {
      socket.destroy();
      return;
    }
    p.sockets.add(socket);
    socket.once('close', () => p.sockets.delete(socket));
    socket.on('error', () => {}); // a client that resets is no concern of the pod's
    let head: Buffer | undefined;
    let timer: NodeJS.Timeout | undefined;
    const decide = (verdict: 'http' | 'echo') => {
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      if (timer) clearTimeout(timer);
      socket.pause();
      if (head) socket.unshift(head);
      if (verdict === 'http') {
        this.podOfSocket.set(socket, p);
        this.http.emit('connection', socket);
        socket.resume();
      } else {
        socket.pipe(socket);
      }
    };
    const onData = (chunk: Buffer) => {
      head = head ? Buffer.concat([head, chunk]) : chunk;
      const verdict = sniff(head);
      if (verdict !== 'more') decide(verdict);
      else timer ??= setTimeout(() => decide('echo'), SNIFF_WAIT_MS);
    };
    // A client that half-closes before it could be told apart is echoed what it sent.
    const onEnd = () => {
      if (timer) clearTimeout(timer);
      socket.removeListener('data', onData);
      if (head) socket.write(head);
      socket.end();
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
  }
}
