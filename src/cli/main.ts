// `kubelite` command line: dispatches to the subcommands.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { runUp, UP_HELP, UP_OPTIONS } from './up.js';

const VERSION = '0.1.0';

const HELP = `kubelite ${VERSION} — a Kubernetes-compatible control plane for service discovery

Usage:
  kubelite <command> [flags]

Commands:
  up         Run the whole cluster in one process (API server on the embedded store)
  version    Print the kubelite and Kubernetes API versions
  help       Show help for a command (kubelite help up)

Flags:
  -h, --help     Show this help

Run 'kubelite <command> --help' for the flags of a command.
`;

interface Command {
  help: string;
  options: ParseArgsConfig['options'];
  run(values: Record<string, unknown>, positionals: string[]): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  up: { help: UP_HELP, options: UP_OPTIONS, run: runUp },
  version: {
    help: 'Usage: kubelite version\n\nPrint the kubelite and Kubernetes API versions.\n',
    options: {},
    async run() {
      process.stdout.write(`kubelite ${VERSION} (Kubernetes API v1.32.4)\n`);
    },
  },
};

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help') {
    process.stdout.write(HELP);
    return;
  }
  if (name === 'help') {
    const c = rest[0] ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(c ? c.help : HELP);
    return;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`kubelite: unknown command "${name}"\n\n${HELP}`);
    process.exitCode = 2;
    return;
  }
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
