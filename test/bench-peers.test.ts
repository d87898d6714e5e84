// `npm run bench -- --peers`: without a python3 that has torch it skips with a message and exit 0
// (--json: an empty peers list and the reason); bad options exit 2; with torch present (Debian's
// python3-torch) a short run gives every workload × thread row with ratio = btnn / torch.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { findTorchPython } from '../src/bench/peers.js';

const BENCH = join(import.meta.dirname, '..', 'build', 'js', 'src', 'bench', 'main.js');
const bench = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BENCH, '--peers', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });

t.test('no python3 with torch: a message, exit 0, and with --json an empty list', async (t) => {
  const r = bench(['--json'], { BTNN_PYTHON: '/bin/false' });
  t.equal(r.status, 0, 'skips, does not fail');
  t.match(r.stderr, /bench --peers: skipped: no python3 with torch \(tried \/bin\/false\)\. On Debian: apt-get install python3-torch libopenblas0-openmp/);
  const out = JSON.parse(r.stdout) as { peers: unknown[]; skipped: string };
  t.same(out.peers, []);
  t.match(out.skipped, /no python3 with torch/);
  t.match(findTorchPython({ BTNN_PYTHON: '/nonexistent/python3' }), { skip: /tried \/nonexistent\/python3/ });
});

t.test('bad options exit 2 naming the option and the value', async (t) => {
  const r = bench(['--rounds', '0'], { BTNN_PYTHON: '/bin/false' });
  t.equal(r.status, 2);
  t.match(r.stderr, /bench: --rounds 0: must be an integer >= 1/);
  const a = bench(['--ard-rows', 'many'], { BTNN_PYTHON: '/bin/false' });
  t.equal(a.status, 2);
  t.match(a.stderr, /--ard-rows many/);
});

t.test('--help explains every option; an unknown option or a --peers-only one without --peers exits 2', async (t) => {
  const run = (args: string[]) => spawnSync(process.execPath, [BENCH, ...args], { encoding: 'utf8', timeout: 60_000 });
  const h = run(['--help']);
  t.equal(h.status, 0);
  for (const o of ['--peers', '--export', '--rounds', '--ard-rows', '--ard-epochs', '--json']) t.match(h.stdout, o, `--help names ${o}`);
  const u = run(['--peer']);
  t.equal(u.status, 2);
  t.match(u.stderr, /bench: unknown option "--peer"/);
  const p = run(['--ard-rows', '100']);
  t.equal(p.status, 2);
  t.match(p.stderr, /--ard-rows and --ard-epochs apply to --peers only/);
});

t.test('with torch: every workload at 1 and 2 threads, ratio = btnn / torch', async (t) => {
  const found = findTorchPython();
  if ('skip' in found) { t.skip(`python3 with torch not installed: ${found.skip.slice(0, 60)}…`); return; }
  const r = bench(['--json', '--rounds', '1', '--ard-rows', '512', '--ard-epochs', '1']);
  t.equal(r.status, 0, r.stderr.slice(-400));
  const out = JSON.parse(r.stdout) as { blas: string; peers: { workload: string; threads: number; precision: string; btnnSamplesPerSec: number; torchSamplesPerSec: number; ratio: number; btnnPeakRssBytes?: number; torchPeakRssBytes?: number }[] };
  t.same(out.peers.map((p) => `${p.workload}/${p.precision}/${p.threads}`), ['ttm/f32/1', 'ttm/f32/2', 'ttm/int16/1', 'ttm/int16/2', 'dense/f32/1', 'dense/f32/2', 'dense/int16/1', 'dense/int16/2', 'ard/f32/1', 'ard/f32/2']);
  t.match(out.blas, /\//, 'names the BLAS library file torch loads');
  for (const p of out.peers) {
    t.match(p.precision, /^(f32|int16)$/);
    t.ok(p.btnnSamplesPerSec > 0 && p.torchSamplesPerSec > 0, `${p.workload}/${p.threads}: both measured`);
    if (p.workload === 'ard') {
      t.ok(Math.abs(p.ratio - p.btnnSamplesPerSec / p.torchSamplesPerSec) < 1e-9 * p.ratio, 'ard ratio = btnn / torch');
      t.ok(p.btnnPeakRssBytes! > 10 * 2 ** 20 && p.torchPeakRssBytes! > 10 * 2 ** 20, `peak RSS of both processes (${p.btnnPeakRssBytes} / ${p.torchPeakRssBytes} bytes)`);
    } else {
      t.ok(p.ratio > 0, `${p.workload}/${p.threads}: ratio is the median of per-round ratios (${p.ratio.toFixed(2)})`);
    }
  }
});

t.test('npm start runs the trainer through src/cli/start.ts, with its flags and allocator settings', async (t) => {
  const start = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')).scripts.start as string;
  t.match(start, /node build\/js\/src\/cli\/start\.js$/, `npm start: ${start}`);
  const { START_NODE_FLAGS, START_ENV, startEnv } = await import('../src/cli/start.js');
  t.ok(START_NODE_FLAGS.includes('--max-semi-space-size=1') && Object.keys(START_ENV).length > 0);
  // A value the user set wins; the others are filled in.
  const env = startEnv({ MALLOC_ARENA_MAX: '4', PATH: '/bin' });
  t.equal(env.MALLOC_ARENA_MAX, '4');
  t.equal(env.MALLOC_TRIM_THRESHOLD_, START_ENV.MALLOC_TRIM_THRESHOLD_);
  t.equal(env.PATH, '/bin');
  // The launcher passes extra arguments to btnn train and exits with its status: a bad option is exit 2.
  const cli = join(import.meta.dirname, '..', 'build', 'js', 'src', 'cli', 'start.js');
  const r = spawnSync(process.execPath, [cli, '--epochs', '0'], { encoding: 'utf8' });
  t.equal(r.status, 2, 'exit 2 from btnn train');
  t.match(r.stderr, /--epochs/, `the trainer's message: ${r.stderr.split('\n')[0]}`);
});
