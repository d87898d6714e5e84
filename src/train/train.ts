// The training loop: seeded init, per-epoch shuffle in the core's generator, minibatch Adam,
// evaluation on the test split after every epoch, summary and model file at the end.
import { join } from 'node:path';
import { mkdirSync, accessSync, constants } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadCore, type Flavour } from '../core/wasm.js';
import { loadMnist, type Dataset } from '../data/mnist.js';
import { inputStats, normalizeInputs } from '../data/normalize.js';
import { defaultSpec, type LayerFormat, type ModelSpec } from '../model/spec.js';
import { modelParams, denseParams } from '../model/layers.js';
import { formatLayerTable } from '../tn/table.js';
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
}

export type Schedule = 'constant' | 'cosine';

/** lr at step t of T (0-based): cosine annealing to zero (Loshchilov & Hutter) or constant. */
export function scheduledLr(lr: number, schedule: Schedule, t: number, T: number): number {
  return schedule === 'cosine' && T > 1 ? lr * 0.5 * (1 + Math.cos((Math.PI * t) / T)) : lr;
}

export interface EpochLog { epoch: number; trainLoss: number; trainAccuracy: number; testLoss: number; testAccuracy: number; seconds: number }

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
  const spec: ModelSpec = { ...defaultSpec(opts.format, opts.maxRank), inputNorm: inputStats(trainSet) };
  normalizeInputs(trainSet, spec.inputNorm!);
  normalizeInputs(testSet, spec.inputNorm!);
  const core = await loadCore(opts.flavour);
  const rt = new Runtime(core, spec, opts.batch, 'train', { datasetCount: trainSet.count, lanes: TRAIN_LANES, workspaceBudgetBytes: opts.workspaceBudgetBytes });
  initialise(rt, opts.seed);
  const pool = await LanePool.create(rt, opts.threads ?? defaultThreads());
  try {
    return await runEpochs(opts, log, trainSet, testSet, spec, rt, pool);
  } finally {
    await pool.close();
  }
}

async function runEpochs(opts: TrainOptions, log: NodeJS.WriteStream | null, trainSet: Dataset, testSet: Dataset,
                         spec: ModelSpec, rt: Runtime, pool: LanePool): Promise<TrainSummary> {
  const core = rt.core;
  const params = modelParams(spec), dense = denseParams(spec);
  log?.write(formatLayerTable(rt.layerPlans).split('\n').map((l) => `btnn:   ${l}\n`).join(''));
  log?.write(`btnn: ${params} params (dense ${dense}, ${(dense / params).toFixed(2)}×), plan ${(rt.plan.endBytes / 1048576).toFixed(1)} MiB, core ${core.flavour}, ${pool.threads} thread(s)\n`);

  const order = rt.i32(rt.bufferAddr('order'), trainSet.count);
  for (let i = 0; i < trainSet.count; i++) order[i] = i;
  const stage = new Float32Array(rt.laneBatch * trainSet.features);
  const history: EpochLog[] = [];
  let trainMs = 0, trained = 0, step = 0;
  const schedule = opts.schedule ?? 'cosine';
  const totalSteps = opts.epochs * Math.ceil(trainSet.count / opts.batch);

  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    const t0 = performance.now();
    core.exports.rngShuffleI32(rt.bufferAddr('rng'), rt.bufferAddr('order'), trainSet.count);
    const perm = rt.i32(rt.bufferAddr('order'), trainSet.count).slice();
    const progress = log ? new Progress(`epoch ${epoch}/${opts.epochs}`, trainSet.count, log) : null;
    let lossSum = 0, correct = 0;
    for (let start = 0; start < trainSet.count; start += opts.batch) {
      const rows = Math.min(opts.batch, trainSet.count - start);
      const r = pool.run(loadLanes(rt, trainSet, perm, start, rows, stage), true);
      rt.adamStep(scheduledLr(opts.lr, schedule, step++, totalSteps));
      lossSum += r.lossSum;
      correct += r.correct;
      const done = start + rows;
      if (progress && (done === trainSet.count || (start / opts.batch) % 20 === 0)) {
        const sps = done / ((performance.now() - t0) / 1000);
        progress.update(done, `loss ${(lossSum / done).toFixed(4)} acc ${(correct / done).toFixed(4)} ${sps.toFixed(0)} samples/s`);
      }
    }
    const epochMs = performance.now() - t0;
    trainMs += epochMs;
    trained += trainSet.count;
    const test = evaluate(rt, pool, testSet);
    const entry: EpochLog = {
      epoch, trainLoss: lossSum / trainSet.count, trainAccuracy: correct / trainSet.count,
      testLoss: test.loss, testAccuracy: test.accuracy, seconds: epochMs / 1000,
    };
    history.push(entry);
    progress?.done(`loss ${entry.trainLoss.toFixed(4)} acc ${entry.trainAccuracy.toFixed(4)} | test acc ${test.accuracy.toFixed(4)} loss ${test.loss.toFixed(4)} | ${(trainSet.count / (epochMs / 1000)).toFixed(0)} samples/s`);
  }

  const last = history[history.length - 1];
  const final = last ? { accuracy: last.testAccuracy, loss: last.testLoss } : evaluate(rt, pool, testSet);
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
    ranks: Object.fromEntries(spec.layers.filter((l) => l.ranks).map((l) => [l.name, l.ranks as number[]])),
    flopsPerSample: planFlops(rt),
    trainSamplesPerSec: trainMs > 0 ? trained / (trainMs / 1000) : 0,
    trainSeconds: trainMs / 1000,
    planBytes: rt.plan.endBytes,
    wasmMemoryBytes: rt.wasmMemoryBytes,
    bytesByKind: rt.plan.bytesByKind,
    flavour: core.flavour,
    lanes: rt.lanes,
    threads: pool.threads,
    history,
  };
  if (opts.outDir) {
    saveModel(join(opts.outDir, 'model.safetensors'), spec, (name) => rt.tensor(name), { seed: String(opts.seed), epochs: String(opts.epochs) });
    writeFileAtomic(join(opts.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  }
  return summary;
}
