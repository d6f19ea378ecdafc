// A Registry on a fresh SQLite store with the `default` namespace, for tests that drive the
// write path without an HTTP server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { SqliteStore } from '../../src/store/sqlite.js';
import { NamespaceCache } from '../../src/apiserver/namespaces.js';
import { Registry, type WriteOptions } from '../../src/apiserver/registry.js';
import { RESOURCES } from '../../src/api/resources.js';

export const POD = RESOURCES.find((r) => r.kind === 'Pod')!;
export const NAMESPACE = RESOURCES.find((r) => r.kind === 'Namespace')!;

/** A write as a client with this field manager sends it: strict field validation, no dry run. */
export const write = (fieldManager: string): WriteOptions => ({ dryRun: false, fieldManager, fieldValidation: 'Strict', warnings: [] });

export interface RegistryOnStore {
  registry: Registry;
  store: SqliteStore;
  /** Close the store and remove its directory. */
  close(): Promise<void>;
}

export async function registryOnStore(prefix: string): Promise<RegistryOnStore> {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const store = new SqliteStore({ path: path.join(dir, 'state.db') });
  await store.start();
  const registry = new Registry(store, new NamespaceCache(store, pino({ level: 'silent' })));
  await registry.create(NAMESPACE, undefined, { metadata: { name: 'default' } }, write('test'));
  return {
    registry, store,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
