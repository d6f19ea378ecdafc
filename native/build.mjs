// Builds the proxy's native relay (relay.c → build/Release/kubelite_relay.node) with node-gyp;
// run by `npm install`/`npm ci` (package.json "install"). A machine without a C compiler or
// Node's headers still installs: the build's failure is reported and the proxy relays in
// JavaScript (src/proxy/native-relay.ts), so this script never fails the install.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);

function nodeGyp() {
  // npm names its own node-gyp to the scripts it runs; otherwise the one beside this node's npm.
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  return path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
}

function build() {
  if (process.platform !== 'linux') return 'the native relay is for Linux (epoll)';
  const gyp = nodeGyp();
  if (!existsSync(gyp)) return `node-gyp not found (${gyp})`;
  const args = [gyp, 'rebuild'];
  // Offline: use the headers installed with this node rather than downloading them.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);
  const run = spawnSync(process.execPath, args, { cwd: here, stdio: ['ignore', 'inherit', 'inherit'] });
  return run.status === 0 ? undefined : `node-gyp failed (${run.error?.message ?? `exit ${run.status}`})`;
}

const failure = build();
if (failure) console.warn(`kubelite: native TCP relay not built: ${failure}; the userspace proxy relays in JavaScript`);
