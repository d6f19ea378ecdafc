// `npm run bench -- <name> [flags]`: runs dist/bench/<name>.js (default: api).
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const [name = 'api', ...rest] = process.argv.slice(2);
const file = path.join(root, 'dist/bench', `${name}.js`);
if (!existsSync(file)) {
  const known = readdirSync(path.join(root, 'dist/bench')).filter((f) => f.endsWith('.js') && f !== 'lib.js').map((f) => f.replace(/\.js$/, ''));
  console.error(`unknown benchmark "${name}"; known: ${known.join(', ')}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, [file, ...rest], { stdio: 'inherit' });
process.exit(r.status ?? 1);
