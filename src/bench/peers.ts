// `npm run bench -- --peers`: btnn against PyTorch on the same workloads, in one sitting.
//
// PyTorch runs in a child process serving src/bench/peers.py's line protocol, so each round can
// time a slice of btnn and then a slice of PyTorch: this VM's speed drifts by 2× within minutes,
// and a ratio of neighbouring slices is what stays put. Workloads (batch 128, Adam):
//   ttm    the default TTM MLP at fixed rank (PyTorch rebuilds W from the cores every step, as the
//          method's reference code does, then one GEMM)
//   dense  the default dense MLP
//   …      ttm and dense also with btnn at --precision int16 (PyTorch stays f32)
//   ard    the `npm start` run (SVI with pruning) end to end, btnn's CLI in a child process against
//          PyTorch doing the reference method (sampling, KL, EM, masks at full rank); rows and
//          epochs scaled by --ard-rows / --ard-epochs; peak RSS of both processes
// at 1 and 2 threads. Skips with a message (exit 0) when no python3 with torch is found.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { loadCore } from '../core/wasm.js';
import { Runtime } from '../runtime/runtime.js';
import { initialise } from '../runtime/init.js';
import { defaultSpec } from '../spec/defaults.js';
import { TRAIN_LANES } from '../train/train.js';
import { loadMnist } from '../data/mnist.js';
import type { LinearSpec } from '../spec/types.js';
import { median } from '../util/math.js';
import { START_NODE_FLAGS, startEnv } from '../cli/start.js';

export interface PeerRow {
  workload: 'ttm' | 'dense' | 'ard';
  threads: number;
  precision: 'f32' | 'int16';
  btnnSamplesPerSec: number;
  torchSamplesPerSec: number;
  /** btnn / torch. */
  ratio: number;
  /** ard: peak RSS of each process. */
  btnnPeakRssBytes?: number;
  torchPeakRssBytes?: number;
}


const here = dirname(fileURLToPath(import.meta.url));
/** A file of the repo's src/, beside this module's source or its build (build/js/src/bench). */
function repoFile(...parts: string[]): string {
  const c = [join(here, ...parts), join(here, '..', '..', '..', '..', 'src', 'bench', ...parts)];
  return c.find((p) => existsSync(p)) ?? c[0];
}

/** A python3 that imports torch: $BTNN_PYTHON, else python3 on PATH, else Debian's /usr/bin/python3. */
export function findTorchPython(env = process.env): { python: string } | { skip: string } {
  const candidates = env.BTNN_PYTHON ? [env.BTNN_PYTHON] : ['python3', '/usr/bin/python3'];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return { python };
  }
  return {
    skip: `no python3 with torch (tried ${candidates.join(', ')}). On Debian: apt-get install python3-torch libopenblas0-openmp, ` +
      'then select OpenBLAS for libblas.so.3, liblapack.so.3 and libopenblas.so.0 with update-alternatives (python3-torch alone runs the slow reference BLAS); ' +
      'or point BTNN_PYTHON at a python3 with torch',
  };
}

/** PyTorch's child process and its request/answer line protocol. */
class Peer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterableIterator<string>;
  constructor(python: string) {
    this.child = spawn(python, [repoFile('peers.py')], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => process.stderr.write(`torch: ${d}`));
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async ask(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.child.stdin.write(JSON.stringify(req) + '\n');
    const { value, done } = await this.lines.next();
    if (done) throw new Error(`the PyTorch peer (src/bench/peers.py) exited before answering ${JSON.stringify(req.cmd)}`);
    const out = JSON.parse(value) as Record<string, unknown>;
    if (out.error) throw new Error(`PyTorch peer: ${out.error}`);
    return out;
  }
  close(): void { this.child.stdin.end(); }
}

/** The layers peers.py builds, from btnn's own spec (modes and ranks). */
function peerLayers(format: 'ttm' | 'dense'): Record<string, unknown>[] {
  return defaultSpec(format).layers.filter((l): l is LinearSpec => l.kind === 'linear')
    .map((l) => ({ inFeatures: l.inFeatures, outFeatures: l.outFeatures, inModes: l.inModes, outModes: l.outModes, ranks: l.ranks }));
}

/** Fixed-rank training steps, interleaved: per round `steps` btnn steps, then `steps` PyTorch steps. */
async function stepsRow(peer: Peer, format: 'ttm' | 'dense', threads: number, rounds: number, precision: 'f32' | 'int16' = 'f32', batch = 128, steps = 20): Promise<PeerRow> {
  const core = await loadCore('node');
  const data = loadMnist('train', batch * 8);
  const rt = new Runtime(core, defaultSpec(format), batch, 'train', { lanes: TRAIN_LANES, precision });
  initialise(rt, 1);
  await rt.useThreads(threads);
  const source = { inputs: { x: data.inputs }, target: data.labels };
  let next = 0;
  const step = (): void => { const s = (next++ % 8) * batch; rt.trainStep({ source, rows: batch, row: (r) => s + r }, 1e-3); };
  for (let i = 0; i < 3; i++) step();
  await peer.ask({ cmd: 'setup', workload: format, threads, batch, layers: peerLayers(format) });
  const ours: number[] = [], theirs: number[] = [], ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step();
    const btnn = (steps * batch) / ((performance.now() - t0) / 1000);
    const torch = (steps * batch) / (await peer.ask({ cmd: 'steps', n: steps }) as { seconds: number }).seconds;
    ours.push(btnn); theirs.push(torch); ratios.push(btnn / torch);
  }
  await rt.close();
  return { workload: format, threads, precision, btnnSamplesPerSec: median(ours), torchSamplesPerSec: median(theirs), ratio: median(ratios) };
}

/** The npm start run, scaled: btnn's CLI in a child (its peak RSS reported by the child itself) and the reference method in PyTorch. */
async function ardRow(python: string, threads: number, rows: number, epochs: number): Promise<PeerRow> {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-peers-'));
  try {
    const main = pathToFileURL(join(here, '..', 'cli', 'main.js')).href;
    const args = ['train', '--inference', 'svi', '--epochs', String(epochs), '--limit-train', String(rows), '--limit-test', '1000', '--threads', String(threads), '--out', join(dir, 'run')];
    const script = `const { run } = await import(${JSON.stringify(main)}); const rc = await run(${JSON.stringify(args)}); ` +
      'process.stderr.write("\\nmaxRssKiB " + process.resourceUsage().maxRSS + "\\n"); process.exitCode = rc;';
    // A file, not `node -e`: the thread pool's workers inherit the parent's exec flags.
    const wrapper = join(dir, 'run-train.mjs');
    writeFileSync(wrapper, script);
    // The node flags and allocator settings of npm start (src/cli/start.ts).
    const b = spawnSync(process.execPath, [...START_NODE_FLAGS, wrapper], { encoding: 'utf8', maxBuffer: 1 << 26, env: startEnv(process.env) });
    if (b.status !== 0) throw new Error(`btnn train for the ard peer failed (exit ${b.status}): ${b.stderr.slice(-2000)}`);
    const summary = JSON.parse(readFileSync(join(dir, 'run', 'summary.json'), 'utf8')) as { trainSeconds: number };
    const btnnRss = Number(/maxRssKiB (\d+)/.exec(b.stderr)?.[1] ?? NaN) * 1024;
    // The same settings as the CLI's defaults for this run (src/cli/train.ts): κ 5e-5, warm-up 0.05·E,0.5·E, threshold 1e-2,1e-12, lr 1e-3.
    const req = { cmd: 'ard', threads, batch: 128, layers: peerLayers('ttm'), epochs, rows, kl: 5e-5, warmup: [0.05 * epochs, 0.5 * epochs], threshold: [1e-2, 1e-12], lr: 1e-3 };
    const t = spawnSync(python, [repoFile('peers.py')], { input: JSON.stringify(req) + '\n', encoding: 'utf8', maxBuffer: 1 << 26 });
    if (t.status !== 0) throw new Error(`the PyTorch ard peer failed (exit ${t.status}): ${t.stderr.slice(-600)}`);
    const out = JSON.parse(t.stdout.trim().split('\n').pop()!) as { seconds: number; maxRssKiB: number };
    const n = rows * epochs;
    const btnnSps = n / summary.trainSeconds, torchSps = n / out.seconds;
    return { workload: 'ard', threads, precision: 'f32', btnnSamplesPerSec: btnnSps, torchSamplesPerSec: torchSps, ratio: btnnSps / torchSps, btnnPeakRssBytes: btnnRss, torchPeakRssBytes: out.maxRssKiB * 1024 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function intOption(argv: string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`bench: ${name} ${argv[i + 1]}: must be an integer >= 1`);
  return v;
}

export async function runPeers(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  let rounds: number, ardRows: number, ardEpochs: number;
  try {
    rounds = intOption(argv, '--rounds', 7);
    ardRows = intOption(argv, '--ard-rows', 20000);
    ardEpochs = intOption(argv, '--ard-epochs', 3);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const found = findTorchPython();
  if ('skip' in found) {
    process.stderr.write(`bench --peers: skipped: ${found.skip}\n`);
    if (json) process.stdout.write(JSON.stringify({ peers: [], skipped: found.skip }, null, 2) + '\n');
    return 0;
  }
  const peer = new Peer(found.python);
  const log = (s: string): void => { if (!json) process.stdout.write(s + '\n'); };
  const info = await peer.ask({ cmd: 'info' }) as { torch: string; blas: string };
  const slowBlas = !/openblas|mkl|blis/i.test(info.blas);
  log(`btnn bench --peers: PyTorch ${info.torch} (${found.python}), BLAS ${info.blas}${slowBlas ? ' — the reference BLAS: install libopenblas0-openmp and select it with update-alternatives, or the peer is slower than a user\'s' : ''}`);
  log(`medians of ${rounds} interleaved rounds; ard: ${ardEpochs} epochs of ${ardRows} MNIST rows end to end`);
  const rows: PeerRow[] = [];
  try {
    for (const workload of ['ttm', 'dense'] as const) {
      for (const threads of [1, 2]) rows.push(await stepsRow(peer, workload, threads, rounds));
      // btnn's int16 training GEMMs (--precision int16) against the same f32 PyTorch peer.
      for (const threads of [1, 2]) rows.push(await stepsRow(peer, workload, threads, rounds, 'int16'));
    }
  } finally {
    peer.close();
  }
  for (const threads of [1, 2]) rows.push(await ardRow(found.python, threads, ardRows, ardEpochs));
  if (json) {
    process.stdout.write(JSON.stringify({ torch: info.torch, blas: info.blas, rounds, peers: rows }, null, 2) + '\n');
    return 0;
  }
  log('');
  log(`${'workload'.padEnd(10)}${'precision'.padStart(10)}${'threads'.padStart(8)}${'btnn samples/s'.padStart(16)}${'torch samples/s'.padStart(17)}${'btnn/torch'.padStart(12)}${'peak RSS btnn / torch'.padStart(24)}`);
  for (const r of rows) {
    const rss = r.btnnPeakRssBytes !== undefined ? `${(r.btnnPeakRssBytes / 2 ** 20).toFixed(0)} / ${(r.torchPeakRssBytes! / 2 ** 20).toFixed(0)} MiB` : '';
    log(`${r.workload.padEnd(10)}${r.precision.padStart(10)}${String(r.threads).padStart(8)}${r.btnnSamplesPerSec.toFixed(0).padStart(16)}${r.torchSamplesPerSec.toFixed(0).padStart(17)}${r.ratio.toFixed(2).padStart(12)}${rss.padStart(24)}`);
  }
  for (const w of ['ttm', 'dense'] as const) {
    const one = rows.find((r) => r.workload === w && r.threads === 1 && r.precision === 'f32')!, two = rows.find((r) => r.workload === w && r.threads === 2 && r.precision === 'f32')!;
    log(`${w}: 2 threads over 1: btnn ${(two.btnnSamplesPerSec / one.btnnSamplesPerSec).toFixed(2)}×, torch ${(two.torchSamplesPerSec / one.torchSamplesPerSec).toFixed(2)}×`);
  }
  return 0;
}
