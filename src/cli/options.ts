// Per-command option tables and their parsing: a command declares its options (type, argument
// name, help) and gets `btnn <command> --help` from them; an option it does not take is an error
// naming the command and its options (with "did you mean" for near misses); negative numbers reach
// the option's own validation instead of node's "place it after --".
import { parseArgs } from 'node:util';
import { FLAVOURS, type Flavour } from '../core/wasm.js';

/** A user error: exit status 2 and a pointer to the command's --help. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: string) { super(message); this.name = 'UsageError'; }
}

export interface OptionDef {
  type: 'string' | 'boolean';
  /** The value's placeholder in help (string options). */
  arg?: string;
  /** Help text; lines after the first are indented under it. */
  help: string;
}

export type Options = Record<string, OptionDef>;
export type Values = Record<string, string | boolean | undefined>;

export interface Command {
  name: string;
  /** One line for `btnn help`. */
  summary: string;
  /** `btnn <name> …` synopsis. */
  usage: string;
  options: Options;
  /** Positional arguments after the command name (default 0). */
  positionals?: number;
  /** Text after the option table (examples, notes). */
  notes?: string;
  run(values: Values, positionals: string[]): Promise<number> | number;
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length][b.length];
}

/** The closest candidate within half the word's length in edits (at least 1, at most 3), or a prefix match. */
export function didYouMean(word: string, candidates: string[]): string | null {
  let best: string | null = null, bestD = Infinity;
  for (const c of candidates) {
    const dd = c.startsWith(word) || word.startsWith(c) ? 0.5 : distance(word, c);
    if (dd < bestD) { best = c; bestD = dd; }
  }
  return bestD <= Math.max(1, Math.min(3, Math.floor(word.length / 2))) ? best : null;
}

const NEGATIVE = /^-(?:\d|\.\d)/;

/** Parses argv (after the command name) against a command's table. */
export function parseCommand(cmd: Command, argv: string[]): { values: Values; positionals: string[] } {
  const table: Options = { ...cmd.options, help: { type: 'boolean', help: 'this text' } };
  // `--seed -1`: hand node the value inline, so the option's own range check answers.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith('--') ? a.slice(2) : null;
    if (name !== null && table[name]?.type === 'string' && i + 1 < argv.length && NEGATIVE.test(argv[i + 1])) {
      args.push(`${a}=${argv[++i]}`);
    } else {
      args.push(a);
    }
  }
  const known = Object.keys(table);
  for (const a of args) {
    if (!a.startsWith('-') || a === '-' || a === '--') continue;
    if (a === '-h') continue;
    const name = a.startsWith('--') ? a.slice(2).split('=')[0] : null;
    if (name === null) throw new UsageError(`${cmd.name}: unknown option ${a}; options are spelled --name`, cmd.name);
    if (!(name in table)) {
      const near = didYouMean(name, known);
      throw new UsageError(`${cmd.name}: unknown option --${name}${near ? `; did you mean --${near}?` : ''} (its options: ${known.map((k) => `--${k}`).join(' ')})`, cmd.name);
    }
  }
  const options = Object.fromEntries(Object.entries(table).map(([k, v]) => [k, { type: v.type, ...(k === 'help' ? { short: 'h' } : {}) }]));
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    const opt = /'(--?[\w-]+)/.exec(e.message)?.[1];
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const def = opt ? table[opt.replace(/^-+/, '').split(' ')[0]] : undefined;
      throw new UsageError(def?.type === 'boolean' ? `${cmd.name}: ${opt} is a switch and takes no value` : `${cmd.name}: ${opt ?? 'an option'} needs a value${def?.arg ? ` (${def.arg})` : ''}`, cmd.name);
    }
    throw new UsageError(`${cmd.name}: ${e.message}`, cmd.name);
  }
  const positionals = parsed.positionals;
  const allowed = cmd.positionals ?? 0;
  if (!parsed.values.help && positionals.length > allowed) {
    throw new UsageError(`${cmd.name}: unexpected argument ${JSON.stringify(positionals[allowed])}${allowed ? '' : '; options start with --'}`, cmd.name);
  }
  return { values: parsed.values as Values, positionals };
}

/** `btnn <command> --help`: synopsis, options with their help, notes. */
export function commandHelp(cmd: Command): string {
  const rows = Object.entries(cmd.options).map(([k, o]) => [`--${k}${o.arg ? ` ${o.arg}` : ''}`, o.help] as const);
  const width = Math.max(20, ...rows.map(([l]) => l.length + 2));
  const lines = rows.flatMap(([l, h]) => {
    const [first, ...rest] = h.split('\n');
    return [`  ${l.padEnd(width)}${first}`, ...rest.map((r) => `  ${' '.repeat(width)}${r}`)];
  });
  return [`btnn ${cmd.name} — ${cmd.summary}`, '', `Usage: ${cmd.usage}`, '', 'Options:', ...lines, `  ${'--help'.padEnd(width)}this text`,
    ...(cmd.notes ? ['', cmd.notes.trimEnd()] : []), ''].join('\n');
}

// Value parsers: each error names the option, the value and the accepted range.

export function intOption(values: Values, name: string, fallback: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = /^-?\d+$/.test(String(raw)) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} ${String(raw)}: must be an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? '∞' : max}`);
  }
  return n;
}

export function numberOption(values: Values, name: string, fallback: number, lo: number, hi: number, loOpen = false): number {
  const raw = values[name] as string | undefined;
  if (raw === undefined) return fallback;
  const x = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(x) || x > hi || (loOpen ? x <= lo : x < lo)) {
    throw new UsageError(`--${name} ${raw}: must be a number in ${loOpen ? '(' : '['}${lo}, ${hi}]`);
  }
  return x;
}

export function choiceOption<T extends string>(values: Values, name: string, choices: readonly T[], fallback: T): T;
export function choiceOption<T extends string>(values: Values, name: string, choices: readonly T[], fallback?: undefined): T | undefined;
export function choiceOption<T extends string>(values: Values, name: string, choices: readonly T[], fallback?: T): T | undefined {
  const raw = values[name] as string | undefined;
  if (raw === undefined) return fallback;
  if (!choices.includes(raw as T)) {
    const near = didYouMean(raw, [...choices]);
    throw new UsageError(`--${name} ${raw}: must be one of ${choices.join(', ')}${near ? ` (did you mean ${near}?)` : ''}`);
  }
  return raw as T;
}

export function flavourOption(values: Values): Flavour | undefined {
  return choiceOption(values, 'flavour', FLAVOURS);
}

/** Options shared by several commands, with one help text each. */
export const COMMON: Options = {
  flavour: { type: 'string', arg: 'F', help: 'core build: node (SIMD, threads), edge-simd, edge-scalar (default: node when\nthe runtime has WebAssembly SIMD, else edge-scalar)' },
  json: { type: 'boolean', help: 'print the result as JSON on stdout' },
};
