// `kubelite` command line: dispatches to the subcommands.
import { parseArgs, type ParseArgsConfig } from 'node:util';

const VERSION = '0.1.0';

const HELP = `kubelite ${VERSION} — a Kubernetes-compatible control plane for service discovery

Usage:
  kubelite <command> [flags]

Commands:
  up           Run the whole cluster in one process (API server on the embedded store)
  server       Run the API server alone (kubelite up without controllers, scheduler, nodes, proxy)
  controllers  Run the controllers and the scheduler, leader-elected, against a kubeconfig
  agent        Run one node's agent against a kubeconfig (kubelite agent --node NAME)
  proxy        Run the service proxy against a kubeconfig
  why          Explain why pods are (not) endpoints of a Service (kubelite why service/NAME)
  version      Print the kubelite and Kubernetes API versions
  help         Show help for a command (kubelite help up)

Flags:
  -h, --help     Show this help

Run 'kubelite <command> --help' for the flags of a command.
`;

interface Command {
  help: string;
  options: ParseArgsConfig['options'];
  run(values: Record<string, unknown>, positionals: string[]): Promise<void>;
}

// Only the command that runs is loaded: `kubelite up` must not pay for the others' code.
const COMMANDS: Record<string, () => Promise<Command>> = {
  up: async () => { const m = await import('./up.js'); return { help: m.UP_HELP, options: m.UP_OPTIONS, run: m.runUp }; },
  server: async () => {
    const m = await import('./up.js');
    const { COMPONENTS } = await import('./components-list.js');
    return {
      help: m.SERVER_HELP,
      options: m.UP_OPTIONS,
      run: (values) => m.runUp({ ...values, disable: COMPONENTS.join(',') }),
    };
  },
  controllers: async () => { const m = await import('./controllers.js'); return { help: m.CONTROLLERS_HELP, options: m.CONTROLLERS_OPTIONS, run: m.runControllers }; },
  agent: async () => { const m = await import('./agent.js'); return { help: m.AGENT_HELP, options: m.AGENT_OPTIONS, run: m.runAgent }; },
  proxy: async () => { const m = await import('./proxy.js'); return { help: m.PROXY_HELP, options: m.PROXY_OPTIONS, run: m.runProxy }; },
  why: async () => { const m = await import('./why.js'); return { help: m.WHY_HELP, options: m.WHY_OPTIONS, run: m.runWhy }; },
  version: async () => ({
    help: 'Usage: kubelite version\n\nPrint the kubelite and Kubernetes API versions.\n',
    options: {},
    async run() {
      process.stdout.write(`kubelite ${VERSION} (Kubernetes API v1.32.4)\n`);
    },
  }),
};

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help') {
    process.stdout.write(HELP);
    return;
  }
  if (name === 'help') {
    const load = rest[0] ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(load ? (await load()).help : HELP);
    return;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`kubelite: unknown command "${name}"\n\n${HELP}`);
    process.exitCode = 2;
    return;
  }
  const cmd = await load();
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...cmd.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`kubelite ${name}: ${(e as Error).message}\n\n${cmd.help}`);
    process.exitCode = 2;
    return;
  }
  if (parsed.values.help) {
    process.stdout.write(cmd.help);
    return;
  }
  await cmd.run(parsed.values, parsed.positionals);
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`kubelite: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
