// The training loop: seeded init, per-epoch shuffle in the core's generator, minibatch Adam,
// evaluation on the test split after every epoch, summary and model file at the end.
import { join } from 'node:path';
import { loadCore, type Flavour } from '../core/wasm.js';
import { loadMnist, type Dataset } from '../data/mnist.js';
import { inputStats, normalizeInputs } from '../data/normalize.js';
import { defaultSpec, type LayerFormat, type ModelSpec } from '../model/spec.js';
import { modelParams, denseParams, layerForwardFlops, layerBackwardFlops } from '../model/layers.js';
import { saveModel } from '../model/file.js';
import { writeFileAtomic } from '../io/atomic.js';
import { Runtime } from './runtime.js';
import { initialise } from './init.js';
import { Progress } from '../util/progress.js';

export interface TrainOptions {
  format: LayerFormat;
  epochs: number;
  batch: number;
  lr: number;
  maxRank: number;
  seed: number;
  limitTrain?: number;
  limitTest?: number;
  outDir?: string;
  flavour?: Flavour;
  /** Progress and per-epoch lines go here; null silences them. */
  log?: NodeJS.WriteStream | null;
}

export interface EpochLog { epoch: number; trainLoss: number; trainAccuracy: number; testLoss: number; testAccuracy: number; seconds: number }

export interface TrainSummary {
  dataset: string;
  format: LayerFormat;
  epochs: number;
  seed: number;
  batch: number;
  lr: number;
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
  history: EpochLog[];
}

export function evaluate(rt: Runtime, data: Dataset): { loss: number; accuracy: number } {
  let lossSum = 0, correct = 0;
  const features = data.features;
  for (let start = 0; start < data.count; start += rt.batch) {
    const rows = Math.min(rt.batch, data.count - start);
    rt.loadBatch(data.inputs.subarray(start * features, (start + rows) * features), data.labels.subarray(start, start + rows), rows);
    rt.forward(rows);
    const r = rt.loss(rows);
    lossSum += r.lossSum;
    correct += r.correct;
  }
  return { loss: lossSum / data.count, accuracy: correct / data.count };
}

export function specFlops(spec: ModelSpec): { forward: number; backward: number } {
  return {
    forward: spec.layers.reduce((s, l) => s + layerForwardFlops(l), 0),
    backward: spec.layers.reduce((s, l, i) => s + layerBackwardFlops(l, i > 0), 0),
  };
}

export async function train(opts: TrainOptions): Promise<TrainSummary> {
  const log = opts.log === undefined ? process.stderr : opts.log;
  const trainSet = loadMnist('train', opts.limitTrain);
  const testSet = loadMnist('test', opts.limitTest);
  const spec: ModelSpec = { ...defaultSpec(opts.format, opts.maxRank), inputNorm: inputStats(trainSet) };
  normalizeInputs(trainSet, spec.inputNorm!);
  normalizeInputs(testSet, spec.inputNorm!);
  const core = await loadCore(opts.flavour);
  const rt = new Runtime(core, spec, opts.batch, 'train', trainSet.count);
  initialise(rt, opts.seed);
  const params = modelParams(spec), dense = denseParams(spec);
  log?.write(`btnn: ${opts.format} ${spec.layers.map((l) => `${l.name} ${l.inFeatures}→${l.outFeatures}` + (l.ranks ? ` ranks [${l.ranks.join(',')}]` : '')).join(', ')}\n`);
  log?.write(`btnn: ${params} params (dense ${dense}, ${(dense / params).toFixed(2)}×), plan ${(rt.plan.endBytes / 1048576).toFixed(1)} MiB, core ${core.flavour}\n`);

  const order = rt.i32(rt.bufferAddr('order'), trainSet.count);
  for (let i = 0; i < trainSet.count; i++) order[i] = i;
  const features = trainSet.features;
  const xStage = new Float32Array(opts.batch * features);
  const yStage = new Uint8Array(opts.batch);
  const history: EpochLog[] = [];
  let trainMs = 0, trained = 0;

  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    const t0 = performance.now();
    core.exports.rngShuffleI32(rt.bufferAddr('rng'), rt.bufferAddr('order'), trainSet.count);
    const perm = rt.i32(rt.bufferAddr('order'), trainSet.count).slice();
    const progress = log ? new Progress(`epoch ${epoch}/${opts.epochs}`, trainSet.count, log) : null;
    let lossSum = 0, correct = 0;
    for (let start = 0; start < trainSet.count; start += opts.batch) {
      const rows = Math.min(opts.batch, trainSet.count - start);
      for (let r = 0; r < rows; r++) {
        const idx = perm[start + r];
        xStage.set(trainSet.inputs.subarray(idx * features, (idx + 1) * features), r * features);
        yStage[r] = trainSet.labels[idx];
      }
      rt.loadBatch(xStage.subarray(0, rows * features), yStage, rows);
      rt.forward(rows);
      const r = rt.loss(rows);
      rt.backward(rows);
      rt.adamStep(opts.lr);
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
    const test = evaluate(rt, testSet);
    const entry: EpochLog = {
      epoch, trainLoss: lossSum / trainSet.count, trainAccuracy: correct / trainSet.count,
      testLoss: test.loss, testAccuracy: test.accuracy, seconds: epochMs / 1000,
    };
    history.push(entry);
    progress?.done(`loss ${entry.trainLoss.toFixed(4)} acc ${entry.trainAccuracy.toFixed(4)} | test acc ${test.accuracy.toFixed(4)} loss ${test.loss.toFixed(4)} | ${(trainSet.count / (epochMs / 1000)).toFixed(0)} samples/s`);
  }

  const last = history[history.length - 1];
  const summary: TrainSummary = {
    dataset: 'mnist',
    format: opts.format,
    epochs: opts.epochs,
    seed: opts.seed,
    batch: opts.batch,
    lr: opts.lr,
    maxRank: opts.maxRank,
    trainSamples: trainSet.count,
    testSamples: testSet.count,
    testAccuracy: last ? last.testAccuracy : evaluate(rt, testSet).accuracy,
    testLoss: last ? last.testLoss : evaluate(rt, testSet).loss,
    params,
    denseParams: dense,
    compression: dense / params,
    ranks: Object.fromEntries(spec.layers.filter((l) => l.ranks).map((l) => [l.name, l.ranks as number[]])),
    flopsPerSample: specFlops(spec),
    trainSamplesPerSec: trainMs > 0 ? trained / (trainMs / 1000) : 0,
    trainSeconds: trainMs / 1000,
    planBytes: rt.plan.endBytes,
    wasmMemoryBytes: rt.wasmMemoryBytes,
    bytesByKind: rt.plan.bytesByKind,
    flavour: core.flavour,
    history,
  };
  if (opts.outDir) {
    saveModel(join(opts.outDir, 'model.safetensors'), spec, (name) => rt.tensor(name), { seed: String(opts.seed), epochs: String(opts.epochs) });
    writeFileAtomic(join(opts.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  }
  return summary;
}
