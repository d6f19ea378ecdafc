// Pod IPs from the node's podCIDR, after CNI's host-local IPAM as kubenet configures it: the
// network address and the first host address (the bridge's gateway) are never handed out, nor
// the broadcast address; allocation is round-robin from the last address handed out, so a pod
// replacing a deleted one gets a new IP. Nothing is persisted: at start the agent reserves the
// IPs that live pods on this node show in the API.

export class IPAMExhaustedError extends Error {
  constructor(readonly rangeText: string) {
    // host-local's words, as the kubelet shows them in FailedCreatePodSandBox events.
    super(`failed to allocate for range 0: no IP addresses available in range set: ${rangeText}`);
    this.name = 'IPAMExhaustedError';
  }
}

/** An IPv4 address as an unsigned 32-bit number. */
export function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function intToIPv4(n: number): string {
  return `${Math.floor(n / 16777216) % 256}.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

export interface CIDR4 {
  /** The network address as a number (host bits cleared). */
  base: number;
  prefix: number;
  /** Number of addresses in the block. */
  size: number;
}

/** Parse an IPv4 CIDR (`127.244.0.0/16`); the host bits must be zero. */
export function parseCIDR4(cidr: string): CIDR4 {
  const slash = cidr.indexOf('/');
  const ip = slash < 0 ? undefined : ipv4ToInt(cidr.slice(0, slash));
  const prefix = slash < 0 ? NaN : Number(cidr.slice(slash + 1));
  if (ip === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32 || !/^\d+$/.test(cidr.slice(slash + 1))) {
    throw new Error(`invalid IPv4 CIDR ${JSON.stringify(cidr)}`);
  }
  const size = 2 ** (32 - prefix);
  if (ip % size !== 0) throw new Error(`invalid IPv4 CIDR ${JSON.stringify(cidr)}: host bits are set (network address ${intToIPv4(ip - (ip % size))})`);
  return { base: ip, prefix, size };
}

export function formatCIDR4(c: { base: number; prefix: number }): string {
  return `${intToIPv4(c.base)}/${c.prefix}`;
}

export class PodIPAM {
  readonly cidr: string;
  readonly gateway: string;
  private readonly first: number;
  private readonly last: number;
  private readonly byOwner = new Map<string, number>();
  private readonly byIP = new Map<number, string>();
  /** The last address handed out (host-local's "last reserved IP"): the next search starts after it. */
  private cursor: number;

  constructor(cidr: string) {
    const c = parseCIDR4(cidr);
    if (c.prefix > 30) throw new Error(`podCIDR ${cidr} is too small for pods (need /30 or larger)`);
    this.cidr = cidr;
    this.gateway = intToIPv4(c.base + 1);
    this.first = c.base + 2;
    this.last = c.base + c.size - 2;
    this.cursor = this.first - 1;
  }

  /** How many pod IPs the range holds. */
  get capacity(): number {
    return this.last - this.first + 1;
  }

  get allocated(): number {
    return this.byOwner.size;
  }

  contains(ip: string): boolean {
    const n = ipv4ToInt(ip);
    return n !== undefined && n >= this.first && n <= this.last;
  }

  ipOf(owner: string): string | undefined {
    const n = this.byOwner.get(owner);
    return n === undefined ? undefined : intToIPv4(n);
  }

  /**
   * Record that `owner` (a pod UID) holds `ip`, as the API shows after a restart. False when the
   * address is outside the range or another owner holds it.
   */
  reserve(ip: string, owner: string): boolean {
    const n = ipv4ToInt(ip);
    if (n === undefined || n < this.first || n > this.last) return false;
    const holder = this.byIP.get(n);
    if (holder !== undefined) return holder === owner;
    this.release(owner);
    this.byIP.set(n, owner);
    this.byOwner.set(owner, n);
    // Continue after the highest reserved address, as host-local continues after the last one.
    if (n > this.cursor) this.cursor = n;
    return true;
  }

  /** An address for `owner` (the one it already holds, if any); throws IPAMExhaustedError when none is free. */
  allocate(owner: string): string {
    const held = this.byOwner.get(owner);
    if (held !== undefined) return intToIPv4(held);
    const count = this.capacity;
    for (let i = 1; i <= count; i++) {
      const n = this.first + ((this.cursor - this.first + i) % count + count) % count;
      if (!this.byIP.has(n)) {
        this.byIP.set(n, owner);
        this.byOwner.set(owner, n);
        this.cursor = n;
        return intToIPv4(n);
      }
    }
    throw new IPAMExhaustedError(`${intToIPv4(this.first)}-${intToIPv4(this.last)}`);
  }

  release(owner: string): void {
    const n = this.byOwner.get(owner);
    if (n === undefined) return;
    this.byOwner.delete(owner);
    this.byIP.delete(n);
  }
}
