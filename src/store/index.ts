// Chooses the store from a URL: `sqlite://PATH` (or a bare path) is the embedded SQLite store,
// `etcd://HOST:PORT[,HOST:PORT...][/KEY-PREFIX]` an etcd cluster.
import { EtcdStore, parseEtcdUrl } from './etcd.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export * from './types.js';
export { SqliteStore, type SqliteStoreOptions, type SqliteStoreStats } from './sqlite.js';
export { EtcdStore, parseEtcdUrl, type EtcdStoreOptions } from './etcd.js';
export { startCompactor, type Compactor, type CompactorOptions } from './compactor.js';

/** The store a URL names, not started yet (call start()). */
export function openStore(url: string): Store {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return new SqliteStore({ path: url });
  if (scheme === 'sqlite') {
    const path = url.slice('sqlite://'.length);
    if (path === '') throw new Error(`store URL ${url} names no database file (expected sqlite://PATH)`);
    return new SqliteStore({ path });
  }
  if (scheme === 'etcd') return new EtcdStore(parseEtcdUrl(url));
  throw new Error(`unsupported store URL ${url}: expected sqlite://PATH, a file path, or etcd://HOST:PORT[,HOST:PORT...]`);
}
