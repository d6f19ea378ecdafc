// Writing and reading kubeconfig files. `kubelite up` writes a cluster, a user and a context
// named after the cluster into the file; entries of other clusters in an existing file are kept,
// so pointing --kubeconfig at ~/.kube/config does not clobber it.
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';

/** The YAML library is loaded on use: `kubelite up` reaches the store before it needs it. */
async function yaml() {
  return (await import('yaml')).default;
}

interface Named<T> { name: string; [k: string]: unknown; value?: T }

export interface KubeconfigEntry {
  name: string;
  server: string;
  caPem: string;
  token: string;
}

interface KubeconfigDoc {
  apiVersion: string;
  kind: string;
  clusters: Named<unknown>[];
  users: Named<unknown>[];
  contexts: Named<unknown>[];
  'current-context'?: string;
  preferences?: object;
}

export async function writeKubeconfig(file: string, e: KubeconfigEntry): Promise<void> {
  let doc: KubeconfigDoc = { apiVersion: 'v1', kind: 'Config', preferences: {}, clusters: [], users: [], contexts: [] };
  if (existsSync(file)) {
    const parsed = (await yaml()).parse(await fs.readFile(file, 'utf8')) as Partial<KubeconfigDoc> | null;
    if (parsed && typeof parsed === 'object') doc = { ...doc, ...parsed } as KubeconfigDoc;
  }
  const upsert = (list: Named<unknown>[] | undefined, item: Named<unknown>) => {
    const rest = (list ?? []).filter((x) => x.name !== item.name);
    return [...rest, item];
  };
  doc.clusters = upsert(doc.clusters, {
    name: e.name,
    cluster: { server: e.server, 'certificate-authority-data': Buffer.from(e.caPem).toString('base64') },
  });
  doc.users = upsert(doc.users, { name: e.name, user: { token: e.token } });
  doc.contexts = upsert(doc.contexts, { name: e.name, context: { cluster: e.name, user: e.name } });
  doc['current-context'] = e.name;
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, (await yaml()).stringify(doc), { mode: 0o600 });
  await fs.rename(tmp, file);
}

/** What a client needs of one context of a kubeconfig. */
export interface KubeconfigCredentials {
  server: string;
  caPem?: string;
  token?: string;
  insecure?: boolean;
  /** The cluster's `tls-server-name`: sent as SNI and checked against the server certificate instead of the URL's host. */
  tlsServerName?: string;
}

/** The server, CA, token and TLS settings of the current context of a kubeconfig (what kubectl would use). */
export async function readKubeconfig(file: string, context?: string): Promise<KubeconfigCredentials> {
  const doc = (await yaml()).parse(await fs.readFile(file, 'utf8')) as KubeconfigDoc;
  const ctxName = context ?? doc['current-context'];
  const ctx = (doc.contexts ?? []).find((c) => c.name === ctxName)?.context as { cluster: string; user: string } | undefined;
  if (!ctx) throw new Error(`context "${ctxName}" not found in ${file}`);
  const cluster = (doc.clusters ?? []).find((c) => c.name === ctx.cluster)?.cluster as Record<string, string> | undefined;
  if (!cluster) throw new Error(`cluster "${ctx.cluster}" not found in ${file}`);
  const user = ((doc.users ?? []).find((u) => u.name === ctx.user)?.user ?? {}) as Record<string, string>;
  let caPem: string | undefined;
  if (cluster['certificate-authority-data']) caPem = Buffer.from(cluster['certificate-authority-data'], 'base64').toString();
  else if (cluster['certificate-authority']) caPem = await fs.readFile(path.resolve(path.dirname(file), cluster['certificate-authority']), 'utf8');
  return {
    server: cluster.server, caPem, token: user.token,
    insecure: cluster['insecure-skip-tls-verify'] === 'true' || (cluster['insecure-skip-tls-verify'] as unknown) === true,
    tlsServerName: cluster['tls-server-name'] || undefined,
  };
}
