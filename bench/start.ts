// `npm run bench -- start [--runs N] [--nodes N]`: how long `kubelite up` takes to start on a fresh
// data directory, measured from outside: from spawning the process to the first 200 from /readyz
// (the API server serves; kubectl works) and to its "Ready in" line (the controllers, scheduler,
// node agents and proxy started too: a Deployment applied now gets pods at once). Each run on a
// new data directory (a CA, certificates and tokens are made, the SQLite database created); the
// median, min and max of N runs (default 9). `--nodes N` simulates N nodes (default: up's two).
// The mission asks for `up` ready in under a second on a fresh data directory.
import { parseArgs } from 'node:util';
import { progress, startKubelite, summarize } from './lib.js';

const args = parseArgs({ options: { runs: { type: 'string', default: '9' }, nodes: { type: 'string' } } });
const runs = Number(args.values.runs);
const nodeArgs = args.values.nodes ? ['--nodes', Array.from({ length: Number(args.values.nodes) }, (_, i) => `node${String(i + 1).padStart(3, '0')}`).join(',')] : [];

const ready: number[] = [], running: number[] = [];
for (let i = 0; i < runs; i++) {
  progress(`run ${i + 1}/${runs}`);
  const k = await startKubelite(undefined, nodeArgs);
  ready.push(k.readyMs);
  running.push(await k.runningMs);
  await k.stop();
  k.remove();
}
const line = (name: string, xs: number[]) => `${name}: median ${summarize(xs).p50.toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
process.stdout.write(`kubelite up on a fresh data dir, ${runs} runs${args.values.nodes ? `, ${args.values.nodes} nodes` : ''}:\n  ${line('spawn → /readyz 200', ready)}\n  ${line('spawn → "Ready in" (components started)', running)}\n`);
process.stdout.write(JSON.stringify({ runs, nodes: args.values.nodes ? Number(args.values.nodes) : 2, readyMs: summarize(ready).p50, runningMs: summarize(running).p50 }) + '\n');
