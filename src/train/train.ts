// Training: `train(opts)` loads the data, builds the spec and a Trainer; the Trainer owns the
// loop and its TrainState (runtime memory + LoopState): seeded init, per-epoch shuffle in the
// core's generator, minibatch Adam through Runtime.trainStep, ARD pruning, evaluation after every
// epoch, checkpoints (atomic, bit-exact resume), summary and model file at the end. A run
// directory holds one run: summary.json is written last, so its presence means the run finished.
import { join } from 'node:path';
import { accessSync, constants, existsSync, readdirSync, rmSync, unlinkSync, appendFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadCore, type Core, type Flavour } from '../core/wasm.js';
import type { Dataset, DataSourceInfo } from '../data/dataset.js';
import { loadData } from '../data/source.js';
import { closeDataset, targetArray } from '../data/dataset.js';
import { binaryMetrics } from '../util/metrics.js';
import { product } from '../util/math.js';
import { formatOf } from '../formats/index.js';
import { validateSpec } from '../spec/validate.js';
import { bindSpec, dataSource, inputNorm, isMnistShaped, majorityShare, specForData } from './data.js';
import { defaultMaxRank, type LayerFormat } from '../spec/formats.js';
import { tensorLayers, SpecError, type ModelSpec, type Inference, type EmbeddingSpec } from '../spec/types.js';
import { buildGraph } from '../spec/graph.js';
import { defaultSpec } from '../spec/defaults.js';
import { modelParams, denseParams, layerParams, layerTensors } from '../model/layers.js';
import { Ard } from '../ard/ard.js';
import { governedTensors, rankGroups } from '../bayes/groups.js';
import { decidePrune, snapshot, snapshotInto, restore, sliceRankVar, GOVERNED_ONLY, type Kept, type Snapshot } from '../ard/prune.js';
import { klWeight, type Hyperprior, type RankThreshold } from '../bayes/prior.js';
import { initStd, initialise } from '../runtime/init.js';
import { formatLayerTable } from '../prepare/table.js';
import { BudgetError } from '../tn/plan.js';
import { saveModel } from '../model/file.js';
import { writeFileAtomic } from '../io/atomic.js';
import { makeDirs } from '../io/mkdir.js';
import { trainingReportHtml } from './report.js';
import { Runtime, type Batch, type DataSource, type RuntimeOptions, type StepResult } from '../runtime/runtime.js';
import { Progress, type LogStream } from '../util/progress.js';
export type { LogStream } from '../util/progress.js';
import { readCheckpoint, writeCheckpoint, CheckpointError, type Checkpoint, type LoopState } from './checkpoint.js';
import type { EpochLog, PruneEvent, Schedule, TrainSummary } from './summary.js';
import type { Precision } from '../prepare/prepare.js';
export type { EpochLog, PruneEvent, Schedule, TrainSummary } from './summary.js';
import { showValue } from '../util/show.js';

/** Every minibatch is split into this many lanes by default, whatever the thread count. */
export const TRAIN_LANES = 4;

/** The output directory cannot be used; found before training, not after. */
export class OutputError extends Error {
  constructor(message: string) { super(message); this.name = 'OutputError'; }
}

/** Training stopped on a signal after writing a checkpoint; `code` is the exit status (130, 143). */
export class Interrupted extends Error {
  constructor(message: string, readonly code: number) { super(message); this.name = 'Interrupted'; }
}

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

/**
 * A run directory holds one run: a non-empty one is refused unless resuming (or --force, which
 * empties it); temp files of a killed write are removed either way.
 */
function prepareOutDir(dir: string, mode: 'new' | 'resume' | 'force'): void {
  try {
    makeDirs(dir);
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new OutputError(`--out ${dir}: cannot write there (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); choose a writable directory`);
  }
  // Temp files a killed atomic write of ours left (<file>.<pid>.<hex>.tmp): not a run, removed.
  const ours = /^(model\.safetensors|summary\.json|report\.html|checkpoint\.safetensors|metrics\.jsonl)\.\d+\.[0-9a-f]+\.tmp$/;
  const stale = readdirSync(dir).filter((f) => ours.test(f));
  const entries = readdirSync(dir).filter((f) => !ours.test(f));
  const clean = (): void => { for (const f of stale) rmSync(join(dir, f), { force: true }); };
  if (mode === 'force') { for (const f of entries) rmSync(join(dir, f), { recursive: true, force: true }); clean(); return; }
  if (mode === 'new' && entries.length > 0) {
    throw new OutputError(`--out ${dir}: the directory already holds a run (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); continue it with --resume ${dir}, overwrite it with --force, or choose another --out`);
  }
  if (mode === 'resume' && !existsSync(join(dir, CHECKPOINT_FILE))) {
    throw new OutputError(`--resume ${dir}: no ${CHECKPOINT_FILE} there${existsSync(join(dir, 'summary.json')) ? ' (the run finished: summary.json is present)' : ''}; start a new run with --out`);
  }
  clean();
}

/** What train() takes; every field but the data has a default (the CLI's). */
export interface TrainOptions {
  /** Format of the default network's layers (default ttm); with `spec`, only a label. */
  format?: LayerFormat;
  /** Passes over the training set (default 3). */
  epochs?: number;
  /** Minibatch (default 128). */
  batch?: number;
  /** Adam's learning rate (default 1e-3). */
  lr?: number;
  /** The default network's max rank (default: the format's, 20; 50 for cp). */
  maxRank?: number;
  /** Contraction workspace each layer may use, bytes (default unlimited). */
  workspaceBudgetBytes?: number;
  /** Seed of every random draw (default 1). */
  seed?: number;
  limitTrain?: number;
  limitTest?: number;
  outDir?: string;
  flavour?: Flavour;
  /** Learning-rate schedule over the whole run: constant, or cosine decay from lr to 0. */
  schedule?: Schedule;
  /** Row ranges a minibatch is split into (default TRAIN_LANES); results depend on lanes, never on threads. */
  lanes?: number;
  /** Threads running the lanes and the other phases' jobs (default: min(cores, lanes)). */
  threads?: number;
  /** A ModelSpec v2 to train instead of the default network (format and maxRank then only label the run). */
  spec?: ModelSpec;
  /** Write DIR/checkpoint.safetensors every this many steps (default 0: after every epoch). */
  checkpointEvery?: number;
  /** Continue the run in outDir from its checkpoint (bit-exact). */
  resume?: boolean;
  /** Empty a non-empty outDir first instead of refusing it. */
  force?: boolean;
  /** The data: mnist (default), a directory of IDX files, or a CSV file (src/data/source.ts). */
  data?: string;
  /** Test split: another source (file or IDX directory), or the last share of the training rows. */
  test?: string;
  testSplit?: number;
  /** criteo: malformed lines to skip before stopping (default 100). */
  maxBadLines?: number;
  /** criteo: where the parsed log is kept. */
  cacheDir?: string;
  /** CSV: the target column. */
  label?: string;
  /** CSV: read the label as classes or as numbers (default: classes unless numeric with more than 20 values). */
  target?: 'classes' | 'values';
  /** Hidden widths of an MLP whose modes are chosen automatically (instead of the default network). */
  hidden?: number[];
  /** Tests only: stop as if SIGINT arrived after this many steps. */
  interruptAtStep?: number;
  /** Progress and per-epoch lines go here; null silences them. */
  /** Progress and per-epoch lines go here (a stream, or anything with write); null silences them. */
  log?: LogStream | null;
  /** Bayesian rank determination (absent: plain training at fixed ranks). */
  bayes?: BayesOptions;
  /** Memory planner (tests compare them; default greedy). */
  planner?: 'greedy' | 'linear';
  /** Arithmetic of the step's contraction GEMMs (default f32; Runtime's precision). */
  precision?: Precision;
  /** Tests only: poison a factor with NaN after this many steps, to exercise the divergence guard. */
  injectNanAtStep?: number;
}

export interface BayesOptions {
  inference: Inference;
  prior: Hyperprior;
  /** κ: the KL weight reached after the warm-up (β = κ·ramp). */
  kl: number;
  /** β ramps from 0 at epoch `start` to κ at `start + length` (fractional epochs). */
  klWarmup: { start: number; length: number };
  rankThreshold: RankThreshold;
  /** Prune dead slices every this many steps (and at the end); 0: once per epoch. */
  pruneEvery: number;
  /** EM step size α of the rank-variance update. */
  emStep: number;
  /** SVI: initial σ relative to each tensor's initialisation std. */
  sigmaInit: number;
}



/** lr at step t of T (0-based): cosine annealing to zero (Loshchilov & Hutter) or constant. */
export function scheduledLr(lr: number, schedule: Schedule, t: number, T: number): number {
  return schedule === 'cosine' && T > 1 ? lr * 0.5 * (1 + Math.cos((Math.PI * t) / T)) : lr;
}



/** Test loss and accuracy with the runtime's current weights (its prep runs for every batch). */
export function evaluateRuntime(rt: Runtime, data: Dataset): { loss: number; accuracy: number; auc?: number } {
  let lossSum = 0, correct = 0;
  const source = dataSource(data, rt.spec);
  // A click model (one sigmoid output) is also ranked: AUC over every test row's logit.
  const binary = rt.spec.loss.kind === 'sigmoid-bce' && rt.prepared.laneIo[0].output.width === 1;
  const logits = binary ? new Float32Array(data.count) : null;
  for (let start = 0; start < data.count; start += rt.batch) {
    const rows = Math.min(rt.batch, data.count - start);
    const r = rt.inferStep({ source, rows, row: (i) => start + i });
    lossSum += r.lossSum;
    correct += r.correct;
    logits?.set(rt.outputs(rows), start);
  }
  const out = { loss: lossSum / data.count, accuracy: correct / data.count };
  return logits ? { ...out, auc: binaryMetrics(logits, targetArray(data.target)).auc } : out;
}

/** The tensorized embedding tables: their parameters, and their dense size over that. */
export function tableStats(spec: ModelSpec): { tableParams: number; tableCompression: number } | null {
  const tables = spec.layers.filter((l): l is EmbeddingSpec => l.kind === 'embedding' && formatOf(l.format).tensorized);
  if (tables.length === 0) return null;
  const tableParams = tables.reduce((n, l) => n + layerTensors(l).reduce((m, x) => m + product(x.shape), 0), 0);
  const dense = tables.reduce((n, l) => n + l.rows * l.dim, 0);
  return { tableParams, tableCompression: dense / tableParams };
}

/** Threads to use by default: one per core, at most one per lane. */
export function defaultThreads(lanes = TRAIN_LANES): number { return Math.max(1, Math.min(lanes, availableParallelism())); }

/** Flops per sample of a runtime's chosen contraction paths (reconstruction amortised over the batch). */
export function planFlops(rt: Runtime): { forward: number; backward: number } {
  return {
    forward: rt.layerPlans.reduce((s, p) => s + p.chosen.forwardFlops, 0) / rt.batchCapacity,
    backward: rt.layerPlans.reduce((s, p) => s + p.chosen.backwardFlops, 0) / rt.batchCapacity,
  };
}

/** The options a resumed run must share with the run it continues (they decide its bits). */
function identityOptions(opts: Resolved, spec: ModelSpec, data: Dataset, test: Dataset): Record<string, unknown> {
  return {
    // The data too: the same source read the same way, and the same bytes (a changed file is refused).
    data: { src: opts.data ?? 'mnist', label: opts.label ?? null, test: opts.test ?? null, testSplit: opts.testSplit ?? null, target: opts.target ?? null, sha256: data.source.sha256, testSha256: test.source.sha256 },
    hidden: opts.hidden ?? null,
    ...(opts.spec ? {} : { format: opts.format, maxRank: opts.maxRank }), epochs: opts.epochs, batch: opts.batch, lr: opts.lr, seed: opts.seed,
    schedule: opts.schedule ?? 'cosine', limitTrain: opts.limitTrain ?? null, limitTest: opts.limitTest ?? null, lanes: opts.lanes ?? TRAIN_LANES,
    workspaceBudgetBytes: opts.workspaceBudgetBytes ?? null, bayes: opts.bayes ?? null, flavour: opts.flavour ?? null, spec: opts.spec ? spec : null,
    // Only when not the default, so an f32 run's checkpoint keeps the identity it always had.
    ...(opts.precision && opts.precision !== 'f32' ? { precision: opts.precision } : {}),
  };
}

/** TrainOptions with the defaults filled in. */
type Resolved = TrainOptions & Required<Pick<TrainOptions, 'format' | 'epochs' | 'batch' | 'lr' | 'maxRank' | 'seed'>>;

function resolve(o: TrainOptions): Resolved {
  const format = o.format ?? 'ttm';
  const r: Resolved = { ...o, format, epochs: o.epochs ?? 3, batch: o.batch ?? 128, lr: o.lr ?? 1e-3, maxRank: o.maxRank ?? defaultMaxRank(format), seed: o.seed ?? 1 };
  const int = (v: number, lo: number, name: string): void => { if (!Number.isSafeInteger(v) || v < lo) throw new OutputError(`train: ${name} = ${v}: must be an integer >= ${lo}`); };
  int(r.epochs, 1, 'epochs'); int(r.batch, 1, 'batch'); int(r.maxRank, 1, 'maxRank'); int(r.seed, 0, 'seed');
  if (!(r.lr > 0 && r.lr <= 1)) throw new OutputError(`train: lr = ${r.lr}: must be a number in (0, 1]`);
  return r;
}

export async function train(options: TrainOptions): Promise<TrainSummary> {
  if (options.resume && !options.outDir) throw new OutputError('--resume needs the run directory');
  // The data and the model are checked before the run directory is touched: a typo must not
  // cost a finished run (--force empties the directory).
  const { train: trainSet, test: testSet } = loadData(options.data ?? 'mnist', {
    label: options.label, test: options.test, testSplit: options.testSplit, limitTrain: options.limitTrain, limitTest: options.limitTest,
    target: options.target, maxBadLines: options.maxBadLines, cacheDir: options.cacheDir,
    log: options.log === undefined ? process.stderr : options.log,
  });
  try {
    // Without a spec: MNIST-shaped data gets the default TTM network, other data a dense MLP unless
    // a format was asked for. The run is labelled with the format it really trains.
    const format = options.format ?? (isMnistShaped(trainSet) ? 'ttm' : 'dense');
    const opts = resolve({ ...options, format });
    const log = opts.log === undefined ? process.stderr : opts.log;
    const base = bindSpec(opts.spec ?? specForData(trainSet, { format, maxRank: opts.maxRank, hidden: opts.hidden }), trainSet);
    bindSpec(base, testSet); // the test split must fit the same model
    if (base.inference && !opts.bayes) {
      throw new SpecError(`spec.inference = ${showValue(base.inference)}: training with the rank prior needs its options: add --inference ${base.inference} (and --kl etc.), or remove the field`);
    }
    const norm = base.inputNorm ?? inputNorm(base, trainSet);
    // The spec the model file will hold must load again: checked now, not when it is read.
    const spec: ModelSpec = validateSpec({ ...base, ...(norm ? { inputNorm: norm } : {}), ...(opts.bayes ? { inference: opts.bayes.inference } : {}) });
    if (options.maxRank !== undefined && !opts.spec) warnRankCaps(spec, options.maxRank, log);
    if (opts.outDir) prepareOutDir(opts.outDir, opts.resume ? 'resume' : opts.force ? 'force' : 'new');
    const core = await loadCore(opts.flavour);
    const checkpoint = opts.resume ? readCheckpoint(join(opts.outDir!, CHECKPOINT_FILE)) : null;
    const trainer = await Trainer.create(core, opts, spec, trainSet, testSet, checkpoint, log);
    try {
      return await trainer.run();
    } finally {
      await trainer.close();
    }
  } finally {
    closeDataset(trainSet);
    closeDataset(testSet);
  }
}

/** A --max-rank that no bond reaches: say what the ranks really are, once. */
function warnRankCaps(spec: ModelSpec, maxRank: number, log: LogStream | null): void {
  const layers = tensorLayers(spec).filter((l) => l.ranks);
  if (layers.length && layers.every((l) => Math.max(...l.ranks!) < maxRank)) {
    log?.write(`btnn: warning: --max-rank ${maxRank} exceeds what the mode sizes allow; the ranks are ${layers.map((l) => `${l.name} [${l.ranks!.join(',')}]`).join(', ')} (${modelParams(spec)} params)\n`);
  }
}

const ranksOf = (spec: ModelSpec): Record<string, number[]> =>
  Object.fromEntries(tensorLayers(spec).filter((l) => l.ranks).map((l) => [l.name, l.ranks as number[]]));

const rankLine = (spec: ModelSpec): string =>
  tensorLayers(spec).filter((l) => l.ranks).map((l) => `${l.name} [${l.ranks!.join(',')}] ${layerParams(l)}`).join(' | ');

const identity = (): Kept => new Map();

/** What a model must remember of its data to read new rows the same way: class names, vocabularies, column names. */
function dataDictionary(d: Dataset): Record<string, unknown> {
  return {
    ...(d.target.kind === 'classes' && d.target.names ? { classes: d.target.names } : {}),
    columns: Object.fromEntries(d.inputs.map((c) => [c.name, { dtype: c.dtype, width: c.width, ...(c.names ? { names: c.names } : {}), ...(c.vocab ? { vocab: c.vocab } : {}) }])),
  };
}

/**
 * A checkpoint's state must fit the runtime it is restored into and the loop it resumes; a file
 * that parses but does not (damaged, or edited) is refused by field before anything is copied.
 */
function checkCheckpoint(ck: Checkpoint, rt: Runtime, count: number, opts: Resolved): void {
  const bad = (field: string, why: string): never => { throw new CheckpointError(`checkpoint ${field}: ${why}; the file is damaged, start again without --resume`); };
  const snaps = [['', ck.state], ...(ck.good ? [['good.', ck.good.snap] as const] : [])] as const;
  const governed = governedTensors(rt.spec);
  for (const [prefix, snap] of snaps) {
    for (const [buffer, m] of snap.tensors) {
      if (!rt.hasBuffer(buffer)) bad(`${prefix}${buffer}`, 'is not a buffer of this model');
      for (const s of rt.slots) {
        const data = m.get(s.name);
        if (!data && GOVERNED_ONLY.has(buffer) && !governed.has(s.name)) continue; // ρ and its Adam state: governed tensors only
        if (!data || data.length !== s.floats) bad(`${prefix}${buffer}/${s.name}`, `has ${data?.length ?? 0} floats, the model's tensor ${s.floats}`);
      }
    }
    if (!snap.tensors.has('params')) bad(`${prefix}params`, 'is missing');
    if (snap.rng.length !== 16) bad(`${prefix}rng`, `has ${snap.rng.length} bytes, not 16`);
    if (!snap.order || snap.order.length !== count) bad(`${prefix}order`, `has ${snap.order?.length ?? 0} entries, the training set ${count}`);
    const seen = new Uint8Array(count);
    for (const v of snap.order!) { if (!(v >= 0 && v < count) || seen[v]) bad(`${prefix}order`, `is not a permutation of 0..${count - 1} (entry ${v})`); seen[v] = 1; }
    if (!Number.isSafeInteger(snap.adamSteps) || snap.adamSteps < 0) bad(`${prefix}adamSteps`, `= ${snap.adamSteps}, must be an integer >= 0`);
  }
  const l = ck.loop;
  const int = (v: unknown, lo: number, hi: number): boolean => Number.isSafeInteger(v) && (v as number) >= lo && (v as number) <= hi;
  if (!int(l.epoch, 1, opts.epochs)) bad('loop.epoch', `= ${l.epoch}, must be in 1..${opts.epochs}`);
  if (!int(l.cursor, 0, count) || (l.cursor % opts.batch !== 0 && l.cursor !== count)) bad('loop.cursor', `= ${l.cursor}, must be a multiple of the batch in 0..${count}`);
  if (!int(l.step, 0, Number.MAX_SAFE_INTEGER) || !(l.lrFactor > 0 && l.lrFactor <= 1)) bad('loop.step', `= ${l.step} (lr factor ${l.lrFactor})`);
  if (!Array.isArray(l.budgets) || l.budgets.length !== rt.layerPlans.length) bad('loop.budgets', `has ${l.budgets?.length} entries for ${rt.layerPlans.length} layers`);
  if (!Array.isArray(l.history) || !Array.isArray(l.pruneEvents) || !Array.isArray(l.warnings)) bad('loop', 'lacks its histories');
  const sizes = (v: Float64Array[] | null | undefined): string => (v ? v.map((x) => x.length).join(',') : 'none');
  if (opts.bayes) {
    const want = rankGroups(rt.spec).map((g) => g.size).join(',');
    if (sizes(ck.rankVar) !== want) bad('rankVar', `has slices [${sizes(ck.rankVar)}], the model's rank groups [${want}]`);
    if (ck.good && sizes(ck.good.rankVar) !== want) bad('good.rankVar', `has slices [${sizes(ck.good.rankVar)}], the model's rank groups [${want}]`);
    for (const v of [...(ck.rankVar ?? []), ...(ck.good?.rankVar ?? [])]) if (v.some((x) => !(x > 0) || !Number.isFinite(x))) bad('rankVar', 'holds a variance that is not finite and > 0');
  }
}

/**
 * The training loop and everything a step mutates: the runtime's memory (parameters, Adam state,
 * rank variances and posterior scales, the generator, the epoch's order), the ARD driver, and the
 * LoopState (epoch, cursor, step, lr factor, the NaN guard's snapshot, histories, prune events).
 */
export class Trainer {
  private good: { snap: Snapshot; rankVar: Float64Array[] } | null = null;
  private stopSignal: NodeJS.Signals | null = null;
  private readonly onSignal = (sig: NodeJS.Signals): void => { this.stopSignal = sig; };
  private readonly dense: number;
  private readonly stepsPerEpoch: number;
  private readonly totalSteps: number;
  private readonly majority: number;

  private constructor(
    private rt: Runtime, private ard: Ard | null, private readonly loop: LoopState, private readonly opts: Resolved,
    private readonly trainSet: Dataset, private readonly testSet: Dataset, private readonly log: LogStream | null,
  ) {
    this.dense = denseParams(rt.spec);
    this.stepsPerEpoch = Math.ceil(trainSet.count / opts.batch);
    this.totalSteps = opts.epochs * this.stepsPerEpoch;
    this.majority = majorityShare(trainSet);
  }

  private static runtimeOptions(opts: Resolved, count: number, loop: Pick<LoopState, 'budgets' | 'lrScales'> | null): RuntimeOptions {
    const budgets = loop?.budgets.map((b) => b ?? Infinity);
    return {
      datasetCount: count, lanes: opts.lanes ?? TRAIN_LANES, planner: opts.planner, precision: opts.precision, roundingSeed: opts.seed,
      workspaceBudgetBytes: budgets ?? opts.workspaceBudgetBytes, ...(loop ? { lrScales: loop.lrScales } : {}),
    };
  }

  static async create(core: Core, opts: Resolved, spec: ModelSpec, trainSet: Dataset, testSet: Dataset, ck: Checkpoint | null,
                      log: LogStream | null): Promise<Trainer> {
    const ident = identityOptions(opts, spec, trainSet, testSet);
    if (ck && JSON.stringify(ck.loop.options) !== JSON.stringify(ident)) {
      const was = ck.loop.options, now = ident;
      const wd = was.data as Record<string, unknown> | undefined, nd = now.data as Record<string, unknown>;
      if (wd) {
        // The data's fields one by one: which one differs is the message (the whole object would be cut).
        for (const k of Object.keys(nd)) {
          if (JSON.stringify(wd[k]) === JSON.stringify(nd[k])) continue;
          const what = k === 'sha256' ? 'the training data changed since the checkpoint' : k === 'testSha256' ? 'the test data changed since the checkpoint' : `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} differs`;
          throw new OutputError(`--resume: ${what} (${showValue(wd[k], 200)} then, ${showValue(nd[k], 200)} now); resume on the same data with the same options, or start a new run`);
        }
      }
      const diff = Object.keys(now).filter((k) => JSON.stringify(was[k]) !== JSON.stringify(now[k]));
      throw new OutputError(`--resume: the checkpoint was written with different options (${diff.map((k) => `${k}: ${showValue(was[k])} then, ${showValue(now[k])} now`).join('; ')}); resume with the same options`);
    }
    const useSpec = ck ? ck.spec : spec;
    const rt = new Runtime(core, useSpec, opts.batch, 'train', Trainer.runtimeOptions(opts, trainSet.count, ck ? ck.loop : null));
    let ard: Ard | null = null;
    let loop: LoopState;
    if (ck) {
      checkCheckpoint(ck, rt, trainSet.count, opts);
      restore(rt, ck.state);
      if (opts.bayes) ard = new Ard(rt, { prior: opts.bayes.prior, emStep: opts.bayes.emStep }, ck.rankVar!);
      loop = ck.loop;
    } else {
      initialise(rt, opts.seed);
      const order = rt.i32(rt.bufferAddr('order'), trainSet.count);
      for (let i = 0; i < trainSet.count; i++) order[i] = i;
      if (opts.bayes) {
        ard = new Ard(rt, { prior: opts.bayes.prior, emStep: opts.bayes.emStep });
        const std = new Map(tensorLayers(spec).flatMap((l) => layerTensors(l).map((t) => [t.name, initStd(l).std] as const)));
        ard.initScales(opts.bayes.sigmaInit, (t) => std.get(t)!);
        ard.update(1); // λ from the initial factors with their initial σ (the constructor's ran before ρ was set)
      }
      const user = opts.workspaceBudgetBytes;
      loop = {
        epoch: 1, cursor: 0, shuffled: false, step: 0, lrFactor: 1, epochLossSum: 0, epochCorrect: 0, epochKlSum: 0, epochBeta: 0,
        trainMs: 0, trained: 0, budgets: rt.layerPlans.map(() => (user === undefined ? null : user)),
        lrScales: Object.fromEntries(rt.slots.map((x) => [x.name, x.lrScale])),
        history: [], pruneEvents: [], warnings: [], initialSpec: spec, initialPlanBytes: rt.plan.endBytes, options: ident,
      };
    }
    const trainer = new Trainer(rt, ard, loop, opts, trainSet, testSet, log);
    if (ck?.good) trainer.good = ck.good;
    else if (opts.bayes && !ck) trainer.keepGood();
    await rt.useThreads(opts.threads ?? defaultThreads(opts.lanes ?? TRAIN_LANES));
    trainer.attachArd();
    return trainer;
  }

  async close(): Promise<void> { await this.rt.close(); }

  /** Keeps the current state as the good one, in the last good state's arrays when the shapes still match. */
  private keepGood(): void {
    const rankVar = this.ard!.rankVar, good = this.good;
    if (good && good.rankVar.length === rankVar.length && good.rankVar.every((v, i) => v.length === rankVar[i].length) && snapshotInto(this.rt, good.snap)) {
      good.rankVar.forEach((v, i) => v.set(rankVar[i]));
      return;
    }
    this.good = { snap: snapshot(this.rt, identity()), rankVar: rankVar.map((v) => v.slice()) };
  }

  /** ARD around every step: EM update and sampling before it, the prior's gradients after the backward. */
  private attachArd(): void {
    const ard = this.ard;
    if (!ard) { this.rt.hooks = {}; return; }
    this.rt.hooks = {
      beforeStep: () => { ard.update(); ard.sample(); },
      afterBackward: () => ard.priorGrads(this.loop.epochBeta),
      // A good state is one that just gave a finite loss and KL: kept every 50 steps, before Adam moves it.
      beforeUpdate: () => { if (this.loop.step % 50 === 0) this.keepGood(); },
    };
  }

  private get history(): EpochLog[] { return this.loop.history as EpochLog[]; }
  private get pruneEvents(): PruneEvent[] { return this.loop.pruneEvents as PruneEvent[]; }

  private warn(w: string): void { this.loop.warnings.push(w); this.log?.write(`btnn: warning: ${w}\n`); }

  private describe(): void {
    const rt = this.rt, log = this.log;
    log?.write(formatLayerTable(rt.layerPlans).split('\n').map((l) => `btnn:   ${l}\n`).join(''));
    log?.write(`btnn: ${modelParams(rt.spec)} params (dense ${this.dense}, ${(this.dense / modelParams(rt.spec)).toFixed(2)}×), plan ${(rt.plan.endBytes / 1048576).toFixed(1)} MiB, core ${rt.core.flavour}, ${rt.lanes} lanes on ${rt.threads} thread(s)\n`);
    if (rt.options.precision === 'int16') {
      // Which GEMMs the cost model sends to int16 (prepare.ts atPrecision); none is worth a word.
      const ops = Object.values(rt.prepared.programs).flatMap((ps) => ps.flatMap((p: { ops: { op: string }[] }) => p.ops));
      const int16 = ops.filter((o) => o.op === 'gemmI16').length, all = int16 + ops.filter((o) => o.op === 'gemm').length;
      if (int16 === 0) this.warn(`--precision int16: every GEMM of this model stays f32 (at these shapes int16's packing would cost more than its dot products save), so this run computes in f32`);
      else log?.write(`btnn: int16: ${int16} of ${all} GEMMs a step run int16; the cost model keeps the rest f32\n`);
    }
    const bayes = this.opts.bayes;
    if (bayes) log?.write(`btnn: ARD ${bayes.inference}, ${bayes.prior.kind === 'half-cauchy' ? `half-Cauchy η=${bayes.prior.eta}` : 'log-uniform'} prior, κ=${bayes.kl}, KL warm-up from epoch ${bayes.klWarmup.start} over ${bayes.klWarmup.length}\n`);
  }

  /** Cuts dead slices if there are any: new spec and runtime on the same threads, state carried over. */
  private async prune(): Promise<boolean> {
    const { rt, ard } = this;
    const bayes = this.opts.bayes;
    if (!ard || !bayes) return false;
    const decision = decidePrune(rt.spec, ard, bayes.rankThreshold);
    if (!decision.changed) return false;
    const snap = snapshot(rt, decision.kept);
    const rankVar = sliceRankVar(ard, decision.kept);
    // Each layer may not take more workspace than before the cut (so the plan shrinks, never grows,
    // when pruning makes a costlier-but-larger path the cheapest); if no path fits, it may.
    const user = this.opts.workspaceBudgetBytes;
    const budgets = rt.layerPlans.map((p) => Math.min(p.chosen.workspaceBytes, user ?? Infinity));
    const base = Trainer.runtimeOptions(this.opts, this.trainSet.count, { budgets, lrScales: this.loop.lrScales });
    let next: Runtime;
    try {
      next = new Runtime(rt.core, decision.spec, rt.batch, 'train', base);
      this.loop.budgets = budgets;
    } catch (err) {
      if (!(err instanceof BudgetError)) throw err;
      next = new Runtime(rt.core, decision.spec, rt.batch, 'train', { ...base, workspaceBudgetBytes: user });
      this.loop.budgets = budgets.map(() => (user === undefined ? null : user));
    }
    restore(next, snap);
    this.rt = next;
    this.ard = new Ard(next, ard.options, rankVar);
    next.adoptThreads(rt);
    await rt.close();
    this.attachArd();
    return true;
  }

  private checkpoint(): void {
    if (!this.opts.outDir) return;
    writeCheckpoint(join(this.opts.outDir, CHECKPOINT_FILE), {
      spec: this.rt.spec, loop: this.loop, state: snapshot(this.rt, identity()),
      rankVar: this.ard ? this.ard.rankVar : null, good: this.good,
    });
  }

  /** Stops on SIGINT/SIGTERM (or the test hook) after a whole step: checkpoint, then Interrupted. */
  private async maybeStop(): Promise<void> {
    // Lets the event loop deliver signals between steps (the step itself is synchronous).
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.opts.interruptAtStep !== undefined && this.loop.step === this.opts.interruptAtStep) this.stopSignal = 'SIGINT';
    if (!this.stopSignal) return;
    const sig = this.stopSignal;
    this.checkpoint();
    const dir = this.opts.outDir;
    throw new Interrupted(`${sig}: stopped after step ${this.loop.step}${dir ? `; checkpoint written, continue with: btnn train --resume ${dir} (and the same options)` : ' (no --out, nothing saved)'}`,
      sig === 'SIGTERM' ? 143 : 130);
  }

  async run(): Promise<TrainSummary> {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    try {
      return await this.runLoop();
    } finally {
      process.off('SIGINT', this.onSignal);
      process.off('SIGTERM', this.onSignal);
    }
  }

  private async runLoop(): Promise<TrainSummary> {
    const { opts, loop, trainSet, log } = this;
    const bayes = opts.bayes;
    const schedule = opts.schedule ?? 'cosine';
    const metrics = opts.outDir ? join(opts.outDir, 'metrics.jsonl') : null;
    // metrics.jsonl is the history, one line per epoch; a resumed run rewrites it from the checkpoint's.
    if (metrics) writeFileAtomic(metrics, this.history.map((e) => JSON.stringify(e) + '\n').join(''));
    this.describe();
    if (opts.resume) log?.write(`btnn: resuming at epoch ${loop.epoch}, sample ${loop.cursor} of ${trainSet.count}, step ${loop.step}\n`);
    const source = dataSource(trainSet, this.rt.spec);
    const checkEvery = opts.checkpointEvery ?? 0;

    for (; loop.epoch <= opts.epochs; loop.epoch++) {
      const epoch = loop.epoch;
      const t0 = performance.now();
      if (!loop.shuffled) {
        const rt = this.rt;
        rt.core.exports.rngShuffleI32(rt.bufferAddr('rng'), rt.bufferAddr('order'), trainSet.count);
        loop.shuffled = true;
        loop.epochLossSum = 0; loop.epochCorrect = 0; loop.epochKlSum = 0; loop.epochBeta = 0;
      }
      const perm = this.rt.i32(this.rt.bufferAddr('order'), trainSet.count).slice();
      const progress = log ? new Progress(`epoch ${epoch}/${opts.epochs}`, trainSet.count, log) : null;
      for (let start = loop.cursor; start < trainSet.count; start += opts.batch) {
        const rt = this.rt;
        const rows = Math.min(opts.batch, trainSet.count - start);
        loop.epochBeta = bayes ? klWeight(bayes.kl, (epoch - 1) + start / trainSet.count, bayes.klWarmup) : 0;
        if (loop.step === opts.injectNanAtStep) rt.tensor(rt.slots[0].name)[0] = NaN;
        const batch: Batch = { source, rows, row: (r) => perm[start + r] };
        const lr = loop.lrFactor * scheduledLr(opts.lr, schedule, loop.step, this.totalSteps);
        let r: StepResult = { lossSum: NaN, correct: 0, kl: NaN, applied: false };
        try {
          r = rt.trainStep(batch, lr);
        } catch (err) {
          // The EM update refuses non-finite statistics (RangeError): a diverged step, handled below.
          if (!(err instanceof RangeError) || !this.ard) throw err;
        }
        if (!r.applied) {
          if (!this.good || !this.ard) throw new Error(`step ${loop.step}: the loss became ${r.lossSum}; lower --lr`);
          // METHOD §7: restore the last good state, halve the learning rate, go on.
          restore(rt, this.good.snap);
          // The snapshot may be from an earlier epoch: the order stays this epoch's.
          rt.i32(rt.bufferAddr('order'), trainSet.count).set(perm);
          this.ard.rankVar.forEach((v, i) => v.set(this.good!.rankVar[i]));
          this.ard.writePrecision();
          loop.lrFactor /= 2;
          this.warn(`step ${loop.step}: non-finite loss or KL (${r.lossSum}, ${r.kl}); restored the state of a few steps ago and halved the learning rate (now ×${loop.lrFactor})`);
          loop.step++;
          loop.cursor = start + rows;
          await this.maybeStop();
          continue;
        }
        loop.step++;
        loop.epochLossSum += r.lossSum;
        loop.epochCorrect += r.correct;
        loop.epochKlSum += r.kl;
        if (r.int16) {
          const c = (loop.int16Counts ??= { values: 0, flushed: 0, nonFinite: 0 });
          c.values += r.int16.values; c.flushed += r.int16.flushed; c.nonFinite += r.int16.nonFinite;
        }
        loop.cursor = start + rows;
        const before = this.rt.spec;
        if (bayes && loop.step % (bayes.pruneEvery || this.stepsPerEpoch) === 0 && await this.prune()) {
          this.pruneEvents.push({ step: loop.step, epoch, ranks: ranksOf(this.rt.spec), params: modelParams(this.rt.spec), planBytes: this.rt.plan.endBytes });
          logPrune(log, loop.step, before, this.rt);
          this.keepGood();
        }
        const done = start + rows;
        if (progress && (done === trainSet.count || ((start / opts.batch) % 20 === 0))) {
          const sps = (done - 0) / ((performance.now() - t0) / 1000);
          const extra = bayes ? ` | β ${loop.epochBeta.toExponential(1)} | ${rankLine(this.rt.spec)}` : '';
          progress.update(done, `loss ${(loop.epochLossSum / done).toFixed(4)} acc ${(loop.epochCorrect / done).toFixed(4)} ${sps.toFixed(0)} samples/s${extra}`);
        }
        if (checkEvery > 0 && loop.step % checkEvery === 0 && done < trainSet.count) { loop.trainMs += performance.now() - t0; this.checkpoint(); loop.trainMs -= performance.now() - t0; }
        await this.maybeStop();
      }
      const epochMs = performance.now() - t0;
      loop.trainMs += epochMs;
      loop.trained += trainSet.count;
      this.ard?.useMean();
      const test = evaluateRuntime(this.rt, this.testSet);
      const entry: EpochLog = {
        epoch, trainLoss: loop.epochLossSum / trainSet.count, trainAccuracy: loop.epochCorrect / trainSet.count,
        testLoss: test.loss, testAccuracy: test.accuracy, ...(test.auc !== undefined ? { testAuc: test.auc } : {}), seconds: epochMs / 1000,
        ...(bayes ? { kl: loop.epochKlSum / this.stepsPerEpoch, beta: loop.epochBeta, ranks: ranksOf(this.rt.spec), params: modelParams(this.rt.spec) } : {}),
      };
      this.history.push(entry);
      if (metrics) appendFileSync(metrics, JSON.stringify(entry) + '\n');
      if (trainSet.target.kind === 'classes' && entry.trainAccuracy <= this.majority + 0.01) {
        this.warn(`epoch ${epoch}: training accuracy ${entry.trainAccuracy.toFixed(4)} is that of the constant predictor (${this.majority.toFixed(4)}): the model collapsed; lower --kl or --lr`);
      }
      const ardInfo = bayes ? ` | KL ${entry.kl!.toExponential(3)} β ${loop.epochBeta.toExponential(1)} | ${rankLine(this.rt.spec)}` : '';
      progress?.done(`loss ${entry.trainLoss.toFixed(4)} acc ${entry.trainAccuracy.toFixed(4)} | test acc ${test.accuracy.toFixed(4)} loss ${test.loss.toFixed(4)} | ${(trainSet.count / (epochMs / 1000)).toFixed(0)} samples/s${ardInfo}`);
      loop.cursor = 0;
      loop.shuffled = false;
      if (loop.epoch < opts.epochs) {
        loop.epoch++;
        this.checkpoint();
        loop.epoch--;
      }
    }
    return this.finishRun(schedule);
  }

  private async finishRun(schedule: Schedule): Promise<TrainSummary> {
    const { opts, loop, trainSet, testSet } = this;
    const bayes = opts.bayes;
    const beforeFinal = this.rt.spec;
    const finalPrune = bayes ? await this.prune() : false;
    if (finalPrune) {
      this.pruneEvents.push({ step: loop.step, epoch: opts.epochs, ranks: ranksOf(this.rt.spec), params: modelParams(this.rt.spec), planBytes: this.rt.plan.endBytes });
      logPrune(this.log, loop.step, beforeFinal, this.rt);
    }
    const rt = this.rt;
    this.ard?.useMean();
    const last = this.history[this.history.length - 1];
    // After a final pruning the network changed (only dead slices went): evaluate what is saved.
    const final = !last || finalPrune ? evaluateRuntime(rt, testSet) : { accuracy: last.testAccuracy, loss: last.testLoss, auc: last.testAuc };
    const spec = rt.spec;
    const params = modelParams(spec);
    const summary: TrainSummary = {
      dataset: trainSet.name, task: trainSet.target.kind === 'classes' ? 'classification' : 'regression',
      data: { train: trainSet.source, test: testSet.source }, format: opts.format, epochs: opts.epochs, seed: opts.seed, batch: opts.batch, lr: opts.lr, schedule,
      maxRank: opts.maxRank, trainSamples: trainSet.count, testSamples: testSet.count,
      testAccuracy: final.accuracy, testLoss: final.loss, params, denseParams: this.dense, compression: this.dense / params,
      ...(final.auc !== undefined ? { testAuc: final.auc, testLogLoss: final.loss } : {}), ...(tableStats(spec) ?? {}),
      ranks: ranksOf(spec), flopsPerSample: planFlops(rt),
      trainSamplesPerSec: loop.trainMs > 0 ? loop.trained / (loop.trainMs / 1000) : 0, trainSeconds: loop.trainMs / 1000,
      planBytes: rt.plan.endBytes, wasmMemoryBytes: rt.wasmMemoryBytes, bytesByKind: rt.plan.bytesByKind, flavour: rt.core.flavour,
      lanes: rt.lanes, threads: rt.threads, precision: this.opts.precision ?? 'f32',
      ...(loop.int16Counts ? { int16: { ...loop.int16Counts, flushedShare: loop.int16Counts.values ? loop.int16Counts.flushed / loop.int16Counts.values : 0 } } : {}),
      history: this.history,
      ...(bayes ? { inference: bayes.inference, kl: bayes.kl, pruneEvents: this.pruneEvents, warnings: loop.warnings } : {}),
    };
    if (opts.outDir) {
      // ARD models carry their rank history (hw-sim reports chart it): the start, then every cut.
      const initial = loop.initialSpec;
      const history: Record<string, string> = bayes ? { history: JSON.stringify([{ step: 0, epoch: 0, ranks: ranksOf(initial), params: modelParams(initial), planBytes: loop.initialPlanBytes }, ...this.pruneEvents]) } : {};
      const data = JSON.stringify({ name: trainSet.name, train: trainSet.source, test: testSet.source, ...dataDictionary(trainSet) });
      saveModel(join(opts.outDir, 'model.safetensors'), spec, (name) => rt.tensor(name), { seed: String(opts.seed), epochs: String(opts.epochs), data, ...history },
        modelExtras(rt, this.ard));
      // summary.json last: its presence means the run finished; the checkpoint is no longer needed.
      const ck = join(opts.outDir, CHECKPOINT_FILE);
      if (existsSync(ck)) unlinkSync(ck);
      // A page to look at: loss and accuracy per epoch, ranks and parameters over steps, the memory plan.
      writeFileAtomic(join(opts.outDir, 'report.html'), trainingReportHtml(summary, spec, { initialSpec: loop.initialSpec }));
      writeFileAtomic(join(opts.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    }
    return summary;
  }
}

/** One line per layer that shrank: ranks and params before → after, and the new plan. */
function logPrune(log: LogStream | null, step: number, before: ModelSpec, rt: Runtime): void {
  if (!log) return;
  const tty = Boolean(log.isTTY);
  const was = tensorLayers(before);
  tensorLayers(rt.spec).forEach((l, i) => {
    const b = was[i];
    if (!l.ranks || l.ranks.join() === b.ranks!.join()) return;
    log.write(`${tty ? '\r\x1b[K' : ''}btnn: step ${step}: ${l.name} ranks [${b.ranks!.join(',')}] → [${l.ranks.join(',')}], params ${layerParams(b)} → ${layerParams(l)}\n`);
  });
  log.write(`btnn: step ${step}: model ${modelParams(before)} → ${modelParams(rt.spec)} params, plan ${(rt.plan.endBytes / 1048576).toFixed(2)} MiB, paths ${rt.layerPlans.map((p) => `${p.layer.name} ${p.chosen.kind}`).join(', ')}\n`);
}

/** Posterior scales and rank variances saved next to the factors (src/model/file.ts). */
function modelExtras(rt: Runtime, ard: Ard | null): { name: string; shape: number[]; data: Float32Array }[] {
  if (!ard) return [];
  const out: { name: string; shape: number[]; data: Float32Array }[] = [];
  ard.groups.forEach((g, i) => out.push({ name: `${g.layer}.rankVar.${g.index}`, shape: [g.size], data: Float32Array.from(ard.rankVar[i]) }));
  if (rt.spec.inference === 'svi') {
    for (const t of governedTensors(rt.spec)) {
      const s = rt.slots.find((x) => x.name === t)!;
      out.push({ name: `${t}.rho`, shape: s.shape, data: rt.slotView('rho', t).slice() });
    }
  }
  return out;
}
