// The training loop: seeded init, per-epoch shuffle in the core's generator, minibatch Adam,
// evaluation on the test split after every epoch, summary and model file at the end.
import { join } from 'node:path';
import { mkdirSync, accessSync, constants } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadCore, type Flavour } from '../core/wasm.js';
import { loadMnist, type Dataset } from '../data/mnist.js';
import { inputStats, normalizeInputs } from '../data/normalize.js';
import { defaultSpec, type LayerFormat, type ModelSpec, type Inference } from '../model/spec.js';
import { modelParams, denseParams, layerParams, layerTensors } from '../model/layers.js';
import { Ard } from '../bayes/ard.js';
import { governedTensors } from '../bayes/groups.js';
import { decidePrune, snapshot, restore, sliceRankVar, type Kept } from '../bayes/prune.js';
import { klWeight, type Hyperprior, type RankThreshold } from '../bayes/prior.js';
import { initStd } from './init.js';
import { appendFileSync, writeFileSync } from 'node:fs';
import { formatLayerTable } from '../tn/table.js';
import { BudgetError } from '../tn/plan.js';
import { saveModel } from '../model/file.js';
import { writeFileAtomic } from '../io/atomic.js';
import { Runtime, laneRows } from './runtime.js';
import { LanePool } from './lanes.js';
import { initialise } from './init.js';
import { Progress } from '../util/progress.js';

/** Every minibatch is split into this many lanes, whatever the thread count (see lanes.ts). */
export const TRAIN_LANES = 2;

/** The output directory cannot be used; found before training, not after. */
export class OutputError extends Error {
  constructor(message: string) { super(message); this.name = 'OutputError'; }
}

function prepareOutDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new OutputError(`--out ${dir}: cannot write there (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); choose a writable directory`);
  }
}

export interface TrainOptions {
  format: LayerFormat;
  epochs: number;
  batch: number;
  lr: number;
  maxRank: number;
  /** Contraction workspace each layer may use, bytes (default unlimited). */
  workspaceBudgetBytes?: number;
  seed: number;
  limitTrain?: number;
  limitTest?: number;
  outDir?: string;
  flavour?: Flavour;
  /** Learning-rate schedule over the whole run: constant, or cosine decay from lr to 0. */
  schedule?: Schedule;
  /** Threads running batch lanes (default: one per core, at most TRAIN_LANES). */
  threads?: number;
  /** Progress and per-epoch lines go here; null silences them. */
  log?: NodeJS.WriteStream | null;
  /** Bayesian rank determination (absent: plain training at fixed ranks). */
  bayes?: BayesOptions;
  /** Memory planner (tests compare them; default greedy). */
  planner?: 'greedy' | 'linear';
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

export interface PruneEvent { step: number; epoch: number; ranks: Record<string, number[]>; params: number; planBytes: number }

export type Schedule = 'constant' | 'cosine';

/** lr at step t of T (0-based): cosine annealing to zero (Loshchilov & Hutter) or constant. */
export function scheduledLr(lr: number, schedule: Schedule, t: number, T: number): number {
  return schedule === 'cosine' && T > 1 ? lr * 0.5 * (1 + Math.cos((Math.PI * t) / T)) : lr;
}

export interface EpochLog {
  epoch: number; trainLoss: number; trainAccuracy: number; testLoss: number; testAccuracy: number; seconds: number;
  /** With ARD: the epoch's mean KL (SVI) or prior penalty (MAP), the KL weight at its end, ranks and params after it. */
  kl?: number; beta?: number; ranks?: Record<string, number[]>; params?: number;
}

export interface TrainSummary {
  dataset: string;
  format: LayerFormat;
  epochs: number;
  seed: number;
  batch: number;
  lr: number;
  schedule: Schedule;
  maxRank: number;
  trainSamples: number;
  testSamples: number;
  testAccuracy: number;
  testLoss: number;
  params: number;
  denseParams: number;
  compression: number;
  ranks: Record<string, number[]>;
  flopsPerSample: { forward: number; backward: number };
  trainSamplesPerSec: number;
  trainSeconds: number;
  planBytes: number;
  wasmMemoryBytes: number;
  bytesByKind: Record<string, number>;
  flavour: Flavour;
  /** Row ranges a minibatch is split into (fixed, so results do not depend on threads). */
  lanes: number;
  threads: number;
  history: EpochLog[];
  /** ARD runs: inference, κ, and the model after every pruning event. */
  inference?: Inference;
  kl?: number;
  pruneEvents?: PruneEvent[];
  warnings?: string[];
}

/** Loads samples order[start..start+rows) (or start.. when order is null) into the lanes. */
function loadLanes(rt: Runtime, data: Dataset, order: Int32Array | null, start: number, rows: number, stage: Float32Array): number[] {
  const split = laneRows(rows, rt.lanes);
  const f = data.features;
  let at = start;
  split.forEach((n, lane) => {
    const labels = new Uint8Array(n);
    for (let r = 0; r < n; r++, at++) {
      const idx = order ? order[at] : at;
      stage.set(data.inputs.subarray(idx * f, (idx + 1) * f), r * f);
      labels[r] = data.labels[idx];
    }
    if (n > 0) rt.loadBatch(stage, labels, n, lane);
  });
  return split;
}

export function evaluate(rt: Runtime, pool: LanePool, data: Dataset): { loss: number; accuracy: number } {
  let lossSum = 0, correct = 0;
  const stage = new Float32Array(rt.laneBatch * data.features);
  for (let start = 0; start < data.count; start += rt.batch) {
    const rows = Math.min(rt.batch, data.count - start);
    const r = pool.run(loadLanes(rt, data, null, start, rows, stage), false);
    lossSum += r.lossSum;
    correct += r.correct;
  }
  return { loss: lossSum / data.count, accuracy: correct / data.count };
}

/** Threads to use by default: one per core, at most one per lane. */
export function defaultThreads(): number { return Math.max(1, Math.min(TRAIN_LANES, availableParallelism())); }

/** Flops per sample of a runtime's chosen contraction paths (reconstruction amortised over the batch). */
export function planFlops(rt: Runtime): { forward: number; backward: number } {
  return {
    forward: rt.layerPlans.reduce((s, p) => s + p.chosen.forwardFlops, 0) / rt.batchCapacity,
    backward: rt.layerPlans.reduce((s, p) => s + p.chosen.backwardFlops, 0) / rt.batchCapacity,
  };
}

export async function train(opts: TrainOptions): Promise<TrainSummary> {
  const log = opts.log === undefined ? process.stderr : opts.log;
  if (opts.outDir) prepareOutDir(opts.outDir);
  const trainSet = loadMnist('train', opts.limitTrain);
  const testSet = loadMnist('test', opts.limitTest);
  const spec: ModelSpec = {
    ...defaultSpec(opts.format, opts.maxRank), inputNorm: inputStats(trainSet),
    ...(opts.bayes ? { inference: opts.bayes.inference } : {}),
  };
  normalizeInputs(trainSet, spec.inputNorm!);
  normalizeInputs(testSet, spec.inputNorm!);
  const core = await loadCore(opts.flavour);
  const rtOptions = { datasetCount: trainSet.count, lanes: TRAIN_LANES, workspaceBudgetBytes: opts.workspaceBudgetBytes, planner: opts.planner };
  const rt = new Runtime(core, spec, opts.batch, 'train', rtOptions);
  initialise(rt, opts.seed);
  const order = rt.i32(rt.bufferAddr('order'), trainSet.count);
  for (let i = 0; i < trainSet.count; i++) order[i] = i;
  let ard: Ard | null = null;
  if (opts.bayes) {
    ard = new Ard(rt, { prior: opts.bayes.prior, emStep: opts.bayes.emStep });
    const std = new Map(spec.layers.flatMap((l) => layerTensors(l).map((t) => [t.name, initStd(l).std] as const)));
    ard.initScales(opts.bayes.sigmaInit, (t) => std.get(t)!);
    ard.update(1); // λ from the initial factors with their initial σ (the constructor's ran before ρ was set)
  }
  const state: RunState = { rt, pool: await LanePool.create(rt, opts.threads ?? defaultThreads()), ard };
  try {
    return await runEpochs(opts, log, trainSet, testSet, state, rtOptions);
  } finally {
    await state.pool.close();
  }
}

/** What pruning replaces: the runtime (plan and programs), its lane pool, the ARD state. */
interface RunState { rt: Runtime; pool: LanePool; ard: Ard | null }

/** Cuts dead slices if there are any: new spec, new runtime and pool, state carried over. */
async function prune(state: RunState, opts: TrainOptions, rtOptions: ConstructorParameters<typeof Runtime>[4]): Promise<boolean> {
  const { rt, ard } = state;
  if (!ard || !opts.bayes) return false;
  const decision = decidePrune(rt.spec, ard, opts.bayes.rankThreshold);
  if (!decision.changed) return false;
  const snap = snapshot(rt, decision.kept);
  const rankVar = sliceRankVar(ard, decision.kept);
  const threads = state.pool.threads;
  await state.pool.close();
  // Each layer may not take more workspace than before the cut (so the plan shrinks, never grows,
  // when pruning makes a costlier-but-larger path the cheapest); if no path fits, it may.
  const user = rtOptions?.workspaceBudgetBytes;
  const lrScales = Object.fromEntries(rt.slots.map((x) => [x.name, x.lrScale]));
  rtOptions = { ...rtOptions, lrScales };
  const budgets = rt.layerPlans.map((p, i) => Math.min(p.chosen.workspaceBytes, (Array.isArray(user) ? user[i] : user) ?? Infinity));
  let next: Runtime;
  try {
    next = new Runtime(rt.core, decision.spec, rt.batch, 'train', { ...rtOptions, workspaceBudgetBytes: budgets });
  } catch (err) {
    if (!(err instanceof BudgetError)) throw err;
    next = new Runtime(rt.core, decision.spec, rt.batch, 'train', rtOptions);
  }
  restore(next, snap);
  state.rt = next;
  state.ard = new Ard(next, ard.options, rankVar);
  state.pool = await LanePool.create(next, threads);
  return true;
}

const ranksOf = (spec: ModelSpec): Record<string, number[]> =>
  Object.fromEntries(spec.layers.filter((l) => l.ranks).map((l) => [l.name, l.ranks as number[]]));

const rankLine = (spec: ModelSpec): string =>
  spec.layers.filter((l) => l.ranks).map((l) => `${l.name} [${l.ranks!.join(',')}] ${layerParams(l)}`).join(' | ');

async function runEpochs(opts: TrainOptions, log: NodeJS.WriteStream | null, trainSet: Dataset, testSet: Dataset,
                         state: RunState, rtOptions: ConstructorParameters<typeof Runtime>[4]): Promise<TrainSummary> {
  const core = state.rt.core;
  const dense = denseParams(state.rt.spec);
  const initialSpec = state.rt.spec, initialPlanBytes = state.rt.plan.endBytes;
  const bayes = opts.bayes;
  const describe = (): void => {
    const rt = state.rt;
    log?.write(formatLayerTable(rt.layerPlans).split('\n').map((l) => `btnn:   ${l}\n`).join(''));
    log?.write(`btnn: ${modelParams(rt.spec)} params (dense ${dense}, ${(dense / modelParams(rt.spec)).toFixed(2)}×), plan ${(rt.plan.endBytes / 1048576).toFixed(1)} MiB, core ${core.flavour}, ${state.pool.threads} thread(s)\n`);
  };
  describe();
  if (bayes) log?.write(`btnn: ARD ${bayes.inference}, ${bayes.prior.kind === 'half-cauchy' ? `half-Cauchy η=${bayes.prior.eta}` : 'log-uniform'} prior, κ=${bayes.kl}, KL warm-up from epoch ${bayes.klWarmup.start} over ${bayes.klWarmup.length}\n`);

  const history: EpochLog[] = [];
  const pruneEvents: PruneEvent[] = [];
  const warnings: string[] = [];
  const warn = (w: string): void => { warnings.push(w); log?.write(`btnn: warning: ${w}\n`); };
  let trainMs = 0, trained = 0, step = 0, lrFactor = 1;
  const schedule = opts.schedule ?? 'cosine';
  const stepsPerEpoch = Math.ceil(trainSet.count / opts.batch);
  const totalSteps = opts.epochs * stepsPerEpoch;
  const metrics = opts.outDir ? join(opts.outDir, 'metrics.jsonl') : null;
  if (metrics) writeFileSync(metrics, '');
  const identity = (): Kept => new Map();
  let good = bayes ? { snap: snapshot(state.rt, identity()), rankVar: state.ard!.rankVar.map((v) => v.slice()) } : null;
  const majority = Math.max(...Array.from({ length: 10 }, (_, c) => trainSet.labels.filter((l) => l === c).length)) / trainSet.count;

  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    const t0 = performance.now();
    let rt = state.rt;
    core.exports.rngShuffleI32(rt.bufferAddr('rng'), rt.bufferAddr('order'), trainSet.count);
    const perm = rt.i32(rt.bufferAddr('order'), trainSet.count).slice();
    const progress = log ? new Progress(`epoch ${epoch}/${opts.epochs}`, trainSet.count, log) : null;
    let lossSum = 0, correct = 0, klSum = 0, beta = 0;
    for (let start = 0; start < trainSet.count; start += opts.batch) {
      rt = state.rt;
      const stage = new Float32Array(rt.laneBatch * trainSet.features);
      const rows = Math.min(opts.batch, trainSet.count - start);
      const ard = state.ard;
      beta = bayes ? klWeight(bayes.kl, (epoch - 1) + start / trainSet.count, bayes.klWarmup) : 0;
      if (step === opts.injectNanAtStep) rt.tensor(rt.slots[0].name)[0] = NaN;
      let r = { lossSum: NaN, correct: 0 }, kl = NaN;
      try {
        // The EM update refuses non-finite statistics (RangeError): a diverged step, handled below.
        if (ard) { ard.update(); ard.sample(); }
        r = state.pool.run(loadLanes(rt, trainSet, perm, start, rows, stage), true);
        kl = ard ? ard.priorGrads(beta) : 0;
      } catch (err) {
        if (!(err instanceof RangeError) || !ard) throw err;
      }
      if (!Number.isFinite(r.lossSum) || !Number.isFinite(kl)) {
        if (!good || !ard) throw new Error(`step ${step}: the loss became ${r.lossSum}; lower --lr`);
        // METHOD §7: restore the last good state, halve the learning rate, go on.
        restore(rt, good.snap);
        ard.rankVar.forEach((v, i) => v.set(good!.rankVar[i]));
        ard.writePrecision();
        lrFactor /= 2;
        warn(`step ${step}: non-finite loss or KL (${r.lossSum}, ${kl}); restored the state of a few steps ago and halved the learning rate (now ×${lrFactor})`);
        step++;
        continue;
      }
      // A good state is one that just gave a finite loss and KL: keep it before Adam moves it.
      if (bayes && step % 50 === 0) good = { snap: snapshot(rt, identity()), rankVar: state.ard!.rankVar.map((v) => v.slice()) };
      rt.adamStep(lrFactor * scheduledLr(opts.lr, schedule, step++, totalSteps));
      lossSum += r.lossSum;
      correct += r.correct;
      klSum += kl;
      const before = state.rt.spec;
      if (bayes && step % (bayes.pruneEvery || stepsPerEpoch) === 0 && await prune(state, opts, rtOptions)) {
        pruneEvents.push({ step, epoch, ranks: ranksOf(state.rt.spec), params: modelParams(state.rt.spec), planBytes: state.rt.plan.endBytes });
        logPrune(log, step, before, state.rt);
        good = { snap: snapshot(state.rt, identity()), rankVar: state.ard!.rankVar.map((v) => v.slice()) };
      }
      const done = start + rows;
      if (progress && (done === trainSet.count || (start / opts.batch) % 20 === 0)) {
        const sps = done / ((performance.now() - t0) / 1000);
        const extra = bayes ? ` | β ${beta.toExponential(1)} | ${rankLine(state.rt.spec)}` : '';
        progress.update(done, `loss ${(lossSum / done).toFixed(4)} acc ${(correct / done).toFixed(4)} ${sps.toFixed(0)} samples/s${extra}`);
      }
    }
    const epochMs = performance.now() - t0;
    trainMs += epochMs;
    trained += trainSet.count;
    state.ard?.useMean();
    const test = evaluate(state.rt, state.pool, testSet);
    const entry: EpochLog = {
      epoch, trainLoss: lossSum / trainSet.count, trainAccuracy: correct / trainSet.count,
      testLoss: test.loss, testAccuracy: test.accuracy, seconds: epochMs / 1000,
      ...(bayes ? { kl: klSum / stepsPerEpoch, beta, ranks: ranksOf(state.rt.spec), params: modelParams(state.rt.spec) } : {}),
    };
    history.push(entry);
    if (metrics) appendFileSync(metrics, JSON.stringify(entry) + '\n');
    if (entry.trainAccuracy <= majority + 0.01) {
      warn(`epoch ${epoch}: training accuracy ${entry.trainAccuracy.toFixed(4)} is that of the constant predictor (${majority.toFixed(4)}): the model collapsed; lower --kl or --lr`);
    }
    const ardInfo = bayes ? ` | KL ${entry.kl!.toExponential(3)} β ${beta.toExponential(1)} | ${rankLine(state.rt.spec)}` : '';
    progress?.done(`loss ${entry.trainLoss.toFixed(4)} acc ${entry.trainAccuracy.toFixed(4)} | test acc ${test.accuracy.toFixed(4)} loss ${test.loss.toFixed(4)} | ${(trainSet.count / (epochMs / 1000)).toFixed(0)} samples/s${ardInfo}`);
  }
  const beforeFinal = state.rt.spec;
  if (bayes && await prune(state, opts, rtOptions)) {
    pruneEvents.push({ step, epoch: opts.epochs, ranks: ranksOf(state.rt.spec), params: modelParams(state.rt.spec), planBytes: state.rt.plan.endBytes });
    logPrune(log, step, beforeFinal, state.rt);
  }
  const rt = state.rt;
  state.ard?.useMean();
  const last = history[history.length - 1];
  // After a final pruning the network changed (only dead slices went): evaluate what is saved.
  const final = !last || pruneEvents.some((e) => e.step === step && e.epoch === opts.epochs)
    ? evaluate(rt, state.pool, testSet) : { accuracy: last.testAccuracy, loss: last.testLoss };
  const spec = rt.spec;
  const params = modelParams(spec);
  const summary: TrainSummary = {
    dataset: 'mnist',
    format: opts.format,
    epochs: opts.epochs,
    seed: opts.seed,
    batch: opts.batch,
    lr: opts.lr,
    schedule,
    maxRank: opts.maxRank,
    trainSamples: trainSet.count,
    testSamples: testSet.count,
    testAccuracy: final.accuracy,
    testLoss: final.loss,
    params,
    denseParams: dense,
    compression: dense / params,
    ranks: ranksOf(spec),
    flopsPerSample: planFlops(rt),
    trainSamplesPerSec: trainMs > 0 ? trained / (trainMs / 1000) : 0,
    trainSeconds: trainMs / 1000,
    planBytes: rt.plan.endBytes,
    wasmMemoryBytes: rt.wasmMemoryBytes,
    bytesByKind: rt.plan.bytesByKind,
    flavour: core.flavour,
    lanes: rt.lanes,
    threads: state.pool.threads,
    history,
    ...(bayes ? { inference: bayes.inference, kl: bayes.kl, pruneEvents, warnings } : {}),
  };
  if (opts.outDir) {
    // ARD models carry their rank history (hw-sim reports chart it): the start, then every cut.
    const history: Record<string, string> = bayes ? { history: JSON.stringify([{ step: 0, epoch: 0, ranks: ranksOf(initialSpec), params: modelParams(initialSpec), planBytes: initialPlanBytes }, ...pruneEvents]) } : {};
    saveModel(join(opts.outDir, 'model.safetensors'), spec, (name) => rt.tensor(name), { seed: String(opts.seed), epochs: String(opts.epochs), ...history },
      modelExtras(rt, state.ard));
    writeFileAtomic(join(opts.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  }
  return summary;
}

/** One line per layer that shrank: ranks and params before → after, and the new plan. */
function logPrune(log: NodeJS.WriteStream | null, step: number, before: ModelSpec, rt: Runtime): void {
  if (!log) return;
  const tty = Boolean(log.isTTY);
  rt.spec.layers.forEach((l, i) => {
    const b = before.layers[i];
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
