// Address ranges of their own for clusters that carry traffic. Test files run concurrently, each
// with its own `kubelite up`; with the default ranges two clusters would give their pods the same
// IPs and their Services the same ClusterIPs, and one cluster's proxy (or pod) would answer the
// other's requests — or fail to bind. So a cluster that runs pods or a proxy gets a pod CIDR and a
// service CIDR reserved machine-wide by a lock file holding the owner's pid; a file left by a dead
// process is taken over.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const LOCK_DIR = path.join(tmpdir(), 'kubelite-test-networks');

/**
 * /20 blocks inside the default ranges' neighbourhood but clear of the addresses tests and
 * benchmarks use by name: services in 127.101–127.110 (the default service CIDR is 127.96.0.0/12;
 * tests name 127.96.x, 127.100.x, 127.111.x), pods in 127.130–127.159 (tests and benchmarks name
 * 127.128.x, 127.160.x and up).
 */
const SERVICE_BLOCKS = blocks(101, 110);
const POD_BLOCKS = blocks(130, 159);

function blocks(fromOctet: number, toOctet: number): string[] {
  const out: string[] = [];
  for (let o = fromOctet; o <= toOctet; o++) for (let t = 0; t < 256; t += 16) out.push(`127.${o}.${t}.0/20`);
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function reserve(candidates: string[]): { cidr: string; release(): void } {
  mkdirSync(LOCK_DIR, { recursive: true });
  const start = Math.floor(Math.random() * candidates.length);
  for (let i = 0; i < candidates.length; i++) {
    const cidr = candidates[(start + i) % candidates.length]!;
    const file = path.join(LOCK_DIR, cidr.replace('/', '_'));
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(file, String(process.pid), { flag: 'wx' });
        return { cidr, release: () => rmSync(file, { force: true }) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const owner = Number(readFileSync(file, 'utf8'));
        if (owner && alive(owner)) break;
        rmSync(file, { force: true }); // its owner died without releasing it
      }
    }
  }
  throw new Error(`no free test network among ${candidates.length} blocks in ${LOCK_DIR}`);
}

/** A pod CIDR and a service CIDR no other running test holds; release() frees both. */
export function reserveNetworks(): { podCIDR: string; serviceCIDR: string; release(): void } {
  const pods = reserve(POD_BLOCKS);
  const services = reserve(SERVICE_BLOCKS);
  return { podCIDR: pods.cidr, serviceCIDR: services.cidr, release: () => { pods.release(); services.release(); } };
}
