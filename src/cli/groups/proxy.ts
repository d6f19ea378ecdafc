// The service proxy group of `kubelite up` (kube-proxy). Loaded only where the group runs (components.ts).
import { controllerContext } from '../../client/factory.js';
import { UserspaceProxy } from '../../proxy/userspace.js';
import type { GroupEnv } from '../components.js';

export async function start({ o, newClient, onStop }: GroupEnv): Promise<void> {
  const ctx = controllerContext(newClient('kube-proxy'));
  const opts = { mode: o.balance ?? 'round-robin', log: o.log.child({ component: 'proxy' }) } as const;
  const mode = o.proxyMode ?? 'userspace';
  // nftables is loaded only when chosen; it needs root and the nft command (start() says so).
  const proxy = mode === 'nftables' ? new (await import('../../proxy/nftables.js')).NftablesProxy(ctx, opts) : new UserspaceProxy(ctx, { ...opts, workers: o.proxyWorkers ?? 1 });
  await proxy.start();
  onStop(() => proxy.stop(), () => ctx.informers.stop());
  o.log.info({ component: 'proxy', mode, balance: opts.mode, ...(mode === 'userspace' ? { workers: o.proxyWorkers ?? 1 } : {}) }, 'service proxy running');
}
