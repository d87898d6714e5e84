// `npm start`: the README's main job (ARD training of the default TTM MLP on the packaged MNIST)
// in a node process set up the way a small device should run btnn: this file starts the
// trainer as a child with the node flags and allocator settings below, passes the terminal
// through, and exits with the trainer's status. Extra arguments go to `btnn train`
// (`npm start -- --epochs 2`). The `btnn` command cannot set these itself (V8 and glibc read them
// once, at start-up), so the README shows them as NODE_OPTIONS and environment for `btnn train`.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Node flags of the trainer. --max-semi-space-size=1: a training step's JS allocates ~140 KB,
 * and V8's default lets the young generation grow to 16 MB semi-spaces for it anyway (14–18 MB
 * of peak RSS at the same speed). --v8-pool-size=1: one V8 background thread instead of one per
 * core; each kept its own malloc arena of freed compiler memory (peak −5 to −9 MB, same speed).
 * --optimize-for-size: V8 grows the old generation in smaller steps and collects sooner; the
 * runtimes a pruning run replaces, and each epoch's evaluation and checkpoint, left garbage
 * that raised the baseline through the run (peak −5 to −7 MB, 100.5–100.9 → 93.7–95.4 MB in
 * alternating runs, same speed). Node refuses it in NODE_OPTIONS: it goes on the command line.
 */
export const START_NODE_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1', '--optimize-for-size'];

/**
 * glibc malloc settings of the trainer (other C libraries ignore them). One arena for all
 * threads, and memory above 64 KiB given back to the system when freed: the threads' arenas
 * otherwise kept freed blocks (peak −4 to −7 MB with the flags above, same speed). A value the
 * user set already wins.
 */
export const START_ENV: Record<string, string> = { MALLOC_ARENA_MAX: '1', MALLOC_TRIM_THRESHOLD_: '65536', MALLOC_MMAP_THRESHOLD_: '65536' };

/** The main job's `btnn train` arguments. */
export const START_ARGS = ['train', '--inference', 'svi', '--epochs', '10', '--out', 'runs/start', '--force'];

/** The environment of a trainer child: `env` with START_ENV's settings where `env` has none. */
export function startEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const [k, v] of Object.entries(START_ENV)) if (out[k] === undefined) out[k] = v;
  return out;
}

function main(): void {
  const cli = join(dirname(fileURLToPath(import.meta.url)), 'main.js');
  const child = spawn(process.execPath, [...START_NODE_FLAGS, cli, ...START_ARGS, ...process.argv.slice(2)], { stdio: 'inherit', env: startEnv(process.env) });
  // Ctrl-C reaches the trainer too (same process group): it writes its checkpoint and exits 130,
  // and this process waits for that. A SIGTERM sent to this process alone is passed on.
  process.on('SIGINT', () => { /* the trainer handles it */ });
  process.on('SIGTERM', () => { child.kill('SIGTERM'); });
  child.on('error', (err) => { process.stderr.write(`npm start: cannot start ${process.execPath}: ${err.message}\n`); process.exitCode = 1; });
  child.on('exit', (code, signal) => { process.exitCode = code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1); });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
