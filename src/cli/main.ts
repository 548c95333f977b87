#!/usr/bin/env node
/**
 * The `dbleases` command. Subcommands are loaded on demand from the table below; a new one is a line
 * here plus a module exporting `run(argv): Promise<number>` (and optionally `usage`).
 */
import { describeError, UsageError } from './args.js';
import { missingPackages, packageVersion } from './install.js';

interface Command {
  run(argv: string[]): Promise<number>;
  usage?: string;
}

/** `needs`: the optional peer dependencies the command imports, checked all at once before loading it. */
const COMMANDS: Record<string, { summary: string; needs: string[]; load: () => Promise<Command> }> = {
  dashboard: {
    summary: 'serve the live ownership dashboard, JSON API and /metrics',
    needs: ['prom-client'],
    load: () => import('./dashboard.js'),
  },
  status: { summary: 'print who owns which partitions', needs: [], load: () => import('./status.js') },
  demo: {
    summary: 'run the demo: a fleet that splits, loses and regains partitions, live',
    needs: ['bullmq', 'ioredis', 'prom-client'],
    load: () => import('./demo.js'),
  },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const list = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: dbleases <command> [options]\n\nCommands:\n${list.join('\n')}\n\nRun \`dbleases <command> --help\` for its options, \`dbleases --version\` for the version.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    console.log(packageVersion());
    return 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    console.error(`dbleases: unknown command ${JSON.stringify(name)}\n\n${help()}`);
    return 2;
  }
  const missing = await missingPackages(entry.needs);
  if (missing.length > 0) {
    const list = missing.length === 1 ? `the package ${missing[0]}` : `the packages ${missing.join(', ')}`;
    console.error(`dbleases ${name}: needs ${list}, not installed: npm install ${missing.join(' ')}`);
    return 1;
  }
  let command: Command;
  try {
    command = await entry.load();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND') {
      // A package `needs` does not list (it should), or a broken install.
      const package_ = /Cannot find (?:package|module) '([^']+)'/.exec((error as Error).message)?.[1];
      console.error(
        `dbleases ${name}: needs ${package_ ? `the package ${package_}` : 'a package that is not installed'}: npm install ${package_ ?? ''}`.trimEnd(),
      );
      return 1;
    }
    throw error;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`dbleases ${name}: ${error.message}${command.usage ? `\n\n${command.usage}` : ''}`);
      return 2;
    }
    console.error(`dbleases ${name}: ${describeError(error)}`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`dbleases: ${describeError(error)}`);
    process.exitCode = 1;
  },
);
