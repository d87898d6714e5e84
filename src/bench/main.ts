// `npm run bench [-- --json] [-- --rounds N] [-- --export DIR…] [-- --peers] [-- --calibrate]`: kernel
// throughput against this machine's measured f32x4 peak, and training samples/s of the default
// model; --peers: against PyTorch; --calibrate: the planner's cost model against timed ops.
//
// Shared VMs are noisy (CPU steal changes the clock we get from run to run), so every round times
// the peak probe right before the kernel, and we report medians of GFLOP/s and of the per-round
// kernel/peak ratio: a ratio is stable when the absolute numbers are not.
import { exportLatency } from './export-latency.js';
import { runPeers } from './peers.js';
import { calibrate, formatCalibration } from './calibrate.js';
import { profileStep, formatProfile } from './profile.js';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadCore, type Core, type Flavour } from '../core/wasm.js';
import { planMemory, findBuffer } from '../../hw-sim/plan/planner.js';
import { Runtime } from '../runtime/runtime.js';
import { initialise } from '../runtime/init.js';
import { FORMATS, type LayerFormat } from '../spec/formats.js';
import { defaultSpec } from '../spec/defaults.js';
import { planFlops, defaultThreads, TRAIN_LANES } from '../train/train.js';
import { loadMnist } from '../data/mnist.js';
import { median } from '../util/math.js';
import { operandBits } from '../../hw-sim/fixed/lowp.js';


/** Runs fn repeatedly for at least minMs after a warm-up; returns ms per call. */
function timeIt(fn: () => void, minMs = 40): number {
  fn();
  let calls = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) { fn(); calls++; t = performance.now(); }
  return (t - t0) / calls;
}

/** Calls fn until at least minMs passed; returns [calls, ms]. */
function slice(fn: () => void, minMs: number): [number, number] {
  let calls = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) { fn(); calls++; t = performance.now(); }
  return [calls, t - t0];
}

/**
 * One round of two functions measured side by side: 8 alternating slices of each (aMs, bMs long);
 * returns ms per call of each.
 */
function interleaved(a: () => void, aMs: number, b: () => void, bMs: number): [number, number] {
  let ac = 0, ams = 0, bc = 0, bms = 0;
  for (let s = 0; s < 8; s++) {
    const [c1, t1] = slice(a, aMs); ac += c1; ams += t1;
    const [c2, t2] = slice(b, bMs); bc += c2; bms += t2;
  }
  return [ams / ac, bms / bc];
}

interface KernelRow { kernel: string; shape: string; flavour: Flavour; gflops: number; peakGflops: number; ratio: number }

/**
 * One round alternates short slices of the peak probe (on the SIMD core, `peakCore`: scalar rows
 * then show the SIMD gap) and of the kernel, so both see the same machine: this VM's speed drifts
 * by 2× over seconds, and a ratio of interleaved sums is stable where single timings are not.
 */
function measure(core: Core, peakCore: Core, kernel: string, shape: string, flops: number, fn: () => void, rounds: number): KernelRow {
  const iters = 200_000;
  const probeFlops = iters * (peakCore.exports.PEAK_FLOPS_PER_ITER.value as number);
  const probe = (): void => { peakCore.exports.peakF32x4(iters, 1.0); };
  fn(); probe();
  const g: number[] = [], p: number[] = [], r: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const [probeMs, fnMs] = interleaved(probe, 4, fn, 6);
    const gf = flops / fnMs / 1e6, peak = probeFlops / probeMs / 1e6;
    g.push(gf); p.push(peak); r.push(gf / peak);
  }
  return { kernel, shape, flavour: core.flavour, gflops: median(g), peakGflops: median(p), ratio: median(r) };
}

function gemmRows(core: Core, peakCore: Core, rounds: number): KernelRow[] {
  const shapes: { name: string; m: number; n: number; k: number; tn?: boolean }[] = [
    { name: 'gemm nn', m: 256, n: 256, k: 256 },
    { name: 'gemm tn', m: 256, n: 256, k: 256, tn: true },
    { name: 'gemm nn (fc1 dense fwd)', m: 128, n: 512, k: 784 },
  ];
  const maxFloats = Math.max(...shapes.map((s) => s.m * s.k + s.k * s.n + s.m * s.n));
  const plan = planMemory([{ name: 'gemm', bytes: maxFloats * 4, kind: 'workspace' }], core.exports.heapBase());
  const pages = Math.ceil(plan.endBytes / 65536) - core.memory.buffer.byteLength / 65536;
  if (pages > 0) core.memory.grow(pages);
  const base = findBuffer(plan, 'gemm').offset;
  const f = new Float32Array(core.memory.buffer, base, maxFloats);
  for (let i = 0; i < f.length; i++) f[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  return shapes.map((s) => {
    const a = base, b = a + s.m * s.k * 4, c = b + s.k * s.n * 4;
    const [sai, sak] = s.tn ? [1, s.m] : [s.k, 1];
    return measure(core, peakCore, s.name, `${s.m}×${s.n}×${s.k}`, 2 * s.m * s.n * s.k,
      () => core.exports.brgemmF32(c, s.n, a, sai, sak, 0, b, s.n, 0, s.m, s.n, s.k, 1, 0), rounds);
  });
}

/**
 * The int16 path of a training GEMM (assembly/lowp.ts), beside the f32 rows of the same shapes:
 * the kernel on quantised operands, and the whole path as GEMM_I16 runs it (pack A and Bᵀ at the
 * scale their largest |x| allows with hw-sim/fixed/lowp.ts's operand bits, the int16 GEMM, the
 * rescale into f32).
 */
function int16Rows(core: Core, peakCore: Core, rounds: number): KernelRow[] {
  const shapes = [{ name: '', m: 256, n: 256, k: 256 }, { name: ' (fc1 fwd)', m: 128, n: 512, k: 784 }];
  const rows: KernelRow[] = [];
  for (const s of shapes) {
    const kp = Math.ceil(s.k / 8) * 8;
    const bytes = 4 * (s.m * s.k + s.k * s.n + s.m * s.n) + 2 * kp * (s.m + s.n) + 64;
    const plan = planMemory([{ name: 'gemm', bytes, kind: 'workspace' }], core.exports.heapBase());
    const pages = Math.ceil(plan.endBytes / 65536) - core.memory.buffer.byteLength / 65536;
    if (pages > 0) core.memory.grow(pages);
    const a = findBuffer(plan, 'gemm').offset, b = a + s.m * s.k * 4, c = b + s.k * s.n * 4, qa = c + s.m * s.n * 4, qb = qa + 2 * kp * s.m;
    const f = new Float32Array(core.memory.buffer, a, s.m * s.k + s.k * s.n);
    for (let i = 0; i < f.length; i++) f[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
    const e = core.exports, bits = operandBits(s.k);
    // What GEMM_I16 does in training: each operand packed at the scale its largest |x| allows.
    const quantise = (): number => {
      const fa = e.packRowsI16(qa, kp, a, s.k, 1, 0, s.m, s.k, 1, bits, 0), fb = e.packColsI16(qb, kp, b, s.n, 0, s.n, s.k, 1, bits, 0);
      return 2 ** -(fa + fb);
    };
    const scale = quantise();
    const flops = 2 * s.m * s.n * s.k, shape = `${s.m}×${s.n}×${s.k}, ${bits}-bit`;
    rows.push(measure(core, peakCore, `i16 gemm${s.name}`, shape, flops, () => e.gemmI16(c, s.n, qa, kp, qb, kp, s.m, s.n, kp, scale, false), rounds));
    rows.push(measure(core, peakCore, `i16 quant+gemm${s.name}`, shape, flops, () => e.gemmI16(c, s.n, qa, kp, qb, kp, s.m, s.n, kp, quantise(), false), rounds));
  }
  return rows;
}

interface PackRow { operand: string; shape: string; nearestNsPerValue: number; stochasticNsPerValue: number; ratio: number }

/**
 * GEMM_I16's operand packing alone, nearest-even against stochastic rounding (the backward GEMMs'
 * operands), interleaved slice by slice: what the counter-based draws (assembly/lowp.ts srDraw)
 * add per value. Shapes of the default TTM's fc1 at batch 128: x rows, a W-sized B in columns.
 */
function packRows(core: Core, rounds: number): PackRow[] {
  const shapes = [{ operand: 'rows (packRowsI16)', m: 128, k: 784 }, { operand: 'cols (packColsI16)', m: 512, k: 784 }];
  const rows: PackRow[] = [];
  for (const s of shapes) {
    const kp = Math.ceil(s.k / 8) * 8, bits = operandBits(s.k), values = s.m * s.k;
    const plan = planMemory([{ name: 'pack', bytes: 4 * values + 2 * kp * s.m + 64, kind: 'workspace' }], core.exports.heapBase());
    const pages = Math.ceil(plan.endBytes / 65536) - core.memory.buffer.byteLength / 65536;
    if (pages > 0) core.memory.grow(pages);
    const x = findBuffer(plan, 'pack').offset, q = x + 4 * values;
    const f = new Float32Array(core.memory.buffer, x, values);
    for (let i = 0; i < f.length; i++) f[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
    const e = core.exports, byRows = s.operand.startsWith('rows');
    // rows: A is m×k (sai = k, sak = 1); cols: B is k×m (ldb = m), packed as m rows of k.
    const nearest = byRows ? (): void => { e.packRowsI16(q, kp, x, s.k, 1, 0, s.m, s.k, 1, bits, 0); }
      : (): void => { e.packColsI16(q, kp, x, s.m, 0, s.m, s.k, 1, bits, 0); };
    const stochastic = byRows ? (): void => { e.packRowsI16Sr(q, kp, x, s.k, 1, 0, s.m, s.k, 1, bits, 0x9e3779b9, 0x85ebca6b, 0); }
      : (): void => { e.packColsI16Sr(q, kp, x, s.m, 0, s.m, s.k, 1, bits, 0x9e3779b9, 0x85ebca6b, 0); };
    nearest(); stochastic();
    const nn: number[] = [], sr: number[] = [], r: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const [nearestMs, stochasticMs] = interleaved(nearest, 5, stochastic, 5);
      const a = (nearestMs * 1e6) / values, b = (stochasticMs * 1e6) / values;
      nn.push(a); sr.push(b); r.push(b / a);
    }
    rows.push({ operand: s.operand, shape: `${s.m}×${s.k}, ${bits}-bit`, nearestNsPerValue: median(nn), stochasticNsPerValue: median(sr), ratio: median(r) });
  }
  return rows;
}

/** One lane's programs of each format's default model: forward (prep + forward + loss) and a whole step without Adam. */
function layerRows(core: Core, format: LayerFormat, batch: number, rounds: number): KernelRow[] {
  const spec = defaultSpec(format);
  const rt = new Runtime(core, spec, batch, 'train');
  initialise(rt, 1);
  const x = Float32Array.from({ length: batch * 784 }, (_, i) => (i % 255) / 255);
  const source = { inputs: { x }, target: new Int32Array(batch) };
  const fwd = rt.layerPlans.reduce((s, p) => s + p.chosen.forwardFlops, 0);
  const bwd = rt.layerPlans.reduce((s, p) => s + p.chosen.backwardFlops, 0);
  const shape = `B=${batch} ${rt.layerPlans.map((p) => p.chosen.kind).join('+')}`;
  return [
    measure(core, core, `${format} forward`, shape, fwd, () => { rt.inferStep({ source, rows: batch }); }, rounds),
    measure(core, core, `${format} forward+backward`, shape, fwd + bwd, () => { rt.trainStep({ source, rows: batch }); }, rounds),
  ];
}

interface TrainRow { model: string; batch: number; flavour: Flavour; lanes: number; threads: number; samplesPerSec: number; gflops: number; flopsPerSample: number }

/** Training steps of the product configuration (TRAIN_LANES lanes) on real MNIST batches. */
async function trainRow(core: Core, format: LayerFormat, batch: number, threads: number, rounds: number): Promise<TrainRow> {
  const spec = defaultSpec(format);
  const data = loadMnist('train', batch * 8);
  const rt = new Runtime(core, spec, batch, 'train', { lanes: TRAIN_LANES });
  initialise(rt, 1);
  await rt.useThreads(threads);
  const source = { inputs: { x: data.inputs }, target: data.labels };
  let next = 0;
  const step = (): void => {
    const s = (next++ % 8) * batch;
    rt.trainStep({ source, rows: batch, row: (r) => s + r }, 1e-3);
  };
  const perStepMs: number[] = [];
  for (let i = 0; i < rounds; i++) perStepMs.push(timeIt(step, 150));
  const used = rt.threads;
  await rt.close();
  const f = planFlops(rt);
  const flopsPerSample = f.forward + f.backward;
  const sps = batch / (median(perStepMs) / 1000);
  return { model: `default ${format} (784-512-10)`, batch, flavour: core.flavour, lanes: rt.lanes, threads: used, samplesPerSec: sps, gflops: (sps * flopsPerSample) / 1e9, flopsPerSample };
}

const USAGE = `Usage: npm run bench -- [--rounds N] [--json]
       npm run bench -- --peers [--rounds N] [--ard-rows N] [--ard-epochs N] [--json]
       npm run bench -- --export DIR [DIR…] [--rounds N] [--json]
       npm run bench -- --calibrate [--rounds N] [--json]
       npm run bench -- --profile [--format F] [--precision f32|int16] [--rounds N] [--json]
  (no mode)      kernels (f32 and int16 GEMMs, every format's layer) against the f32x4 peak probe,
                 and training steps of the default TTM and dense models on 1 and 2 threads
  --peers        the same training workloads and the ARD run in PyTorch (python3 with torch),
                 interleaved, printed as btnn / PyTorch ratios; skips with a message without torch
  --export DIR   per-sample latency of modules written by btnn export --target wasm (V8, WAMR, wasm3)
  --calibrate    times every op the planner prices (each format's paths, f32 and int16 GEMMs, a
                 grid of shapes) alone, fits the cost model's rates (src/tn/cost.ts) and prints
                 them beside the committed ones, the model's error per op kind, and whether the
                 committed rates, the fitted ones and flops+2·moved rank each format's paths as
                 whole training steps do
  --profile      where a training step of the default model goes: every op timed on one thread,
                 summed by phase, op kind and op shape, beside the host's share of the step
  --format F     --profile: the default model's format (${FORMATS.join(', ')}; default ttm)
  --precision P  --profile: f32 or int16 (default f32)
  --rounds N     rounds per measurement; medians are reported (default 9; --peers 7; --calibrate 5;
                 --profile 5, 50 steps each)
  --ard-rows N   --peers: MNIST rows of the ARD run (default 20000)
  --ard-epochs N --peers: epochs of the ARD run (default 3)
  --json         machine-readable output on stdout
`;

export async function runBench(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) { process.stdout.write(USAGE); return 0; }
  const valued = new Set(['--rounds', '--ard-rows', '--ard-epochs', '--format', '--precision']);
  const flags = new Set(['--peers', '--json', '--export', '--calibrate', '--profile']);
  const exportAt = argv.indexOf('--export');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (valued.has(a)) { i++; continue; }
    if (flags.has(a)) continue;
    if (exportAt >= 0 && i > exportAt && !a.startsWith('-')) continue; // --export's directories
    process.stderr.write(`bench: unknown option ${JSON.stringify(a)}\n${USAGE}`);
    return 2;
  }
  if (!argv.includes('--peers') && (argv.includes('--ard-rows') || argv.includes('--ard-epochs'))) {
    process.stderr.write('bench: --ard-rows and --ard-epochs apply to --peers only\n');
    return 2;
  }
  if (!argv.includes('--profile') && (argv.includes('--format') || argv.includes('--precision'))) {
    process.stderr.write('bench: --format and --precision apply to --profile only\n');
    return 2;
  }
  const modes = ['--peers', '--export', '--calibrate', '--profile'].filter((m) => argv.includes(m));
  if (modes.length > 1) { process.stderr.write(`bench: ${modes.join(' and ')} are separate runs; give one\n`); return 2; }
  // `--peers`: the same workloads in PyTorch, side by side (src/bench/peers.ts).
  if (argv.includes('--peers')) return runPeers(argv);
  const json = argv.includes('--json');
  const exp = argv.indexOf('--export');
  if (exp >= 0) {
    // `--export DIR [DIR…]`: latency of exported modules (src/bench/export-latency.ts).
    const dirs = argv.slice(exp + 1).filter((a) => !a.startsWith('--') && !/^\d+$/.test(a));
    if (!dirs.length) { process.stderr.write('bench: --export needs one or more directories written by btnn export --target wasm\n'); return 2; }
    // The host builder is a repo script (src/scripts), beside this file's sources or its build.
    const here = dirname(fileURLToPath(import.meta.url));
    const script = [join(here, '..', 'scripts', 'wasm-hosts.mjs'), join(here, '..', '..', '..', '..', 'src', 'scripts', 'wasm-hosts.mjs')].find((p) => existsSync(p))!;
    const { wasmHosts } = await import(pathToFileURL(script).href);
    const hosts = await wasmHosts();
    if (hosts.skip) process.stderr.write(`bench: wasm3/WAMR skipped: ${hosts.skip}\n`);
    const rows = await exportLatency(dirs, { rows: 1000, rounds: Math.max(3, Number(argv[argv.indexOf('--rounds') + 1]) || 5), hosts: hosts.skip ? {} : hosts });
    if (json) process.stdout.write(JSON.stringify({ export: rows }, null, 2) + '\n');
    else {
      console.log('module                       bits  module B  weights B  arena B   V8 µs  WAMR µs  wasm3 µs  (per sample, medians)');
      for (const r of rows) console.log(`${r.dir.padEnd(28)} ${String(r.bits).padStart(4)} ${String(r.moduleBytes).padStart(9)} ${String(r.weightsBytes).padStart(10)} ${String(r.arenaBytes).padStart(8)} ${r.v8Us.toFixed(1).padStart(7)} ${(r.wamrUs?.toFixed(0) ?? '-').padStart(8)} ${(r.wasm3Us?.toFixed(0) ?? '-').padStart(9)}`);
    }
    return 0;
  }
  const roundsArg = argv.indexOf('--rounds');
  const rounds = roundsArg >= 0 ? Number(argv[roundsArg + 1]) : argv.includes('--calibrate') || argv.includes('--profile') ? 5 : 9;
  if (!Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write(`bench: --rounds ${argv[roundsArg + 1]}: must be an integer >= 1\n`);
    return 2;
  }
  const log = (s: string): void => { if (!json) process.stdout.write(s + '\n'); };
  if (argv.includes('--profile')) {
    const value = (flag: string, fallback: string): string => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] ?? '' : fallback);
    const format = value('--format', 'ttm'), precision = value('--precision', 'f32');
    if (!(FORMATS as readonly string[]).includes(format)) { process.stderr.write(`bench: --format ${JSON.stringify(format)}: must be one of ${FORMATS.join(', ')}\n`); return 2; }
    if (precision !== 'f32' && precision !== 'int16') { process.stderr.write(`bench: --precision ${JSON.stringify(precision)}: must be f32 or int16\n`); return 2; }
    const p = await profileStep(format as LayerFormat, precision, rounds);
    process.stdout.write(json ? JSON.stringify({ profile: p }, null, 2) + '\n' : formatProfile(p));
    return 0;
  }
  if (argv.includes('--calibrate')) {
    const r = await calibrate(rounds, (s) => process.stderr.write(s + '\n'));
    process.stdout.write(json ? JSON.stringify({ calibrate: r }, null, 2) + '\n' : formatCalibration(r));
    return 0;
  }
  const simd = await loadCore('node');
  const scalar = await loadCore('edge-scalar');
  log(`btnn bench: medians of ${rounds} rounds; each round interleaves slices of the f32x4 peak probe and the kernel`);
  const kernels = [...gemmRows(simd, simd, rounds), ...int16Rows(simd, simd, rounds), ...gemmRows(scalar, simd, Math.min(rounds, 3)), ...FORMATS.flatMap((f) => layerRows(simd, f, 128, rounds))];
  if (!json) {
    log('');
    log(`${'kernel'.padEnd(26)}${'shape'.padEnd(42)}${'flavour'.padEnd(13)}${'GFLOP/s'.padStart(9)}${'peak'.padStart(9)}${'of peak'.padStart(9)}`);
    for (const k of kernels) {
      log(`${k.kernel.padEnd(26)}${k.shape.padEnd(42)}${k.flavour.padEnd(13)}${k.gflops.toFixed(2).padStart(9)}${k.peakGflops.toFixed(2).padStart(9)}${(100 * k.ratio).toFixed(1).padStart(8)}%`);
    }
  }
  const packing = packRows(simd, rounds);
  log('');
  log(`${'int16 packing'.padEnd(26)}${'shape'.padEnd(22)}${'nearest ns/value'.padStart(18)}${'stochastic'.padStart(12)}${'ratio'.padStart(8)}`);
  for (const p of packing) log(`${p.operand.padEnd(26)}${p.shape.padEnd(22)}${p.nearestNsPerValue.toFixed(3).padStart(18)}${p.stochasticNsPerValue.toFixed(3).padStart(12)}${p.ratio.toFixed(2).padStart(8)}`);
  const training: TrainRow[] = [];
  for (const format of ['ttm', 'dense'] as const) {
    for (const threads of [1, 2, defaultThreads()].filter((t, i, a) => a.indexOf(t) === i)) {
      training.push(await trainRow(await loadCore('node'), format, 128, threads, rounds));
    }
  }
  log('');
  for (const t of training) {
    log(`training ${t.model}, batch ${t.batch}, ${t.flavour}, ${t.lanes} lanes, ${t.threads} thread(s): ${t.samplesPerSec.toFixed(0)} samples/s (${(t.flopsPerSample / 1e6).toFixed(2)} MFLOP/sample, ${t.gflops.toFixed(2)} GFLOP/s)`);
  }
  const peak = median(kernels.filter((k) => k.flavour === 'node').map((k) => k.peakGflops));
  log(`\nmeasured f32x4 peak (node flavour, one core): ${peak.toFixed(2)} GFLOP/s`);
  if (json) process.stdout.write(JSON.stringify({ rounds, peakGflops: peak, kernels, packing, training }, null, 2) + '\n');
  return 0;
}

process.exitCode = await runBench(process.argv.slice(2));
