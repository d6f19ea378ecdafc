// Bundles the `kubelite` command into one ES module (plus the SQLite writer worker), so that
// starting it reads two files instead of resolving and compiling hundreds: module loading was
// most of `kubelite up`'s start-up time. The bundle sits two directories below dist/ like the
// tsc output (dist/src/<dir>/<file>.js), so the relative URLs the code resolves at run time
// (../../openapi/definitions.json, ./sqlite-writer.js) point at the same files either way.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const outdir = path.join(root, 'dist/bundle/kubelite');
rmSync(outdir, { recursive: true, force: true }); // chunk names carry hashes: drop the old ones
await build({
  entryPoints: { main: path.join(root, 'dist/src/cli/main.js'), 'sqlite-writer': path.join(root, 'dist/src/store/sqlite-writer.js') },
  outdir,
  bundle: true,
  // Chunks: `kubelite up` starts the store's writer thread before it loads the API server's code.
  splitting: true,
  chunkNames: '[name]-[hash]',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  // The native addon stays a normal dependency, and so does the etcd client, whose gRPC layer
  // reads its .proto files from its package directory at run time.
  external: ['better-sqlite3', 'etcd3'],
  // CommonJS dependencies call require(); give the ES module bundle one.
  banner: { js: "import { createRequire as __kubeliteRequire } from 'node:module'; const require = __kubeliteRequire(import.meta.url);" },
  logLevel: 'warning',
});
