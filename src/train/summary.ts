// What a training run reports (summary.json, report.html): types only, shared by the Trainer and
// the report so neither imports the other.
import type { Flavour } from '../core/wasm.js';
import type { LayerFormat, Inference } from '../spec/types.js';
import type { DataSourceInfo } from '../data/dataset.js';

export interface PruneEvent { step: number; epoch: number; ranks: Record<string, number[]>; params: number; planBytes: number }

export type Schedule = 'constant' | 'cosine';

export interface EpochLog {
  epoch: number; trainLoss: number; trainAccuracy: number; testLoss: number; testAccuracy: number; seconds: number;
  /** A click model (sigmoid-bce, one output): the test ROC AUC. */
  testAuc?: number;
  /** With ARD: the epoch's mean KL (SVI) or prior penalty (MAP), the KL weight at its end, ranks and params after it. */
  kl?: number; beta?: number; ranks?: Record<string, number[]>; params?: number;
}

export interface TrainSummary {
  dataset: string;
  /** classification (softmax) or regression (a numeric target: accuracies are not defined, 0). */
  task: 'classification' | 'regression';
  /** Where the rows came from: kind, path, rows before limits, sha256 of the bytes read, per split. */
  data: { train: DataSourceInfo; test: DataSourceInfo };
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
  /** A click model: the test ROC AUC, and the log loss (= testLoss, the mean binary cross-entropy). */
  testAuc?: number;
  testLogLoss?: number;
  /** Tensorized embedding tables: their parameters, and their dense rows × dim over that. */
  tableParams?: number;
  tableCompression?: number;
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
  /** Arithmetic of the training step's contraction GEMMs (--precision). */
  precision: 'f32' | 'int16';
  /**
   * --precision int16: over the applied steps, the contraction GEMMs' operand values quantised,
   * the nonzero ones that rounded to 0 (and their share), the GEMM heads that met NaN or ±∞.
   * int16 saturation and int32 overflow cannot happen (operand bits and scales are chosen so).
   */
  int16?: { values: number; flushed: number; flushedShare: number; nonFinite: number };
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
