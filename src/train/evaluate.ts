// Evaluating a trained model on a test split, MNIST's by default (the library's `evaluate`, and `btnn eval`):
// the posterior mean, or the average of K posterior draws for SVI models. A model MNIST cannot
// feed is refused with a message, never scored at chance.
import { existsSync, statSync } from 'node:fs';
import { SpecError } from '../spec/types.js';
import { modelParams, denseParams } from '../model/layers.js';
import { loadModel, type LoadedModel } from '../model/file.js';
import { loadData } from '../data/source.js';
import { DataError, closeDataset, limitRows, type Dataset } from '../data/dataset.js';
import { loadCsvForModel, type DataDictionary } from '../data/csv-model.js';
import { loadIdxTest } from '../data/idx-dir.js';
import { buildGraph } from '../spec/graph.js';
import type { ModelSpec } from '../spec/types.js';
import { bindSpec, dataSource } from './data.js';
import { loadCore, type Flavour } from '../core/wasm.js';
import { evaluateSamples } from '../ard/predict.js';

/** The class count a classifier's spec predicts (its loss input's width). */
const modelClasses = (spec: ModelSpec): number => { const g = buildGraph(spec); return g.values.get(g.lossInput)!.width; };

export interface EvaluateOptions {
  /** Where the test rows come from: mnist (default), a directory of IDX files (its test pair), or a CSV (every row). */
  data?: string;
  /** Only the first N test rows (default all). */
  limitTest?: number;
  /** SVI models: average the class probabilities of K posterior draws (default 1: the posterior mean). */
  samples?: number;
  /** Evaluation batch (default 256); results do not depend on it. */
  batch?: number;
  flavour?: Flavour;
}

export interface EvaluateResult {
  dataset: string; testSamples: number; testAccuracy: number; testNll: number; testEce: number; posteriorSamples: number;
  params: number; denseParams: number; flavour: Flavour;
}

export async function evaluate(model: string | LoadedModel, o: EvaluateOptions = {}): Promise<EvaluateResult> {
  const loaded = typeof model === 'string' ? loadModel(model) : model;
  const name = typeof model === 'string' ? model : 'the model';
  const samples = o.samples ?? 1;
  if (!Number.isSafeInteger(samples) || samples < 1) throw new SpecError(`samples = ${samples}: must be an integer >= 1`);
  if (samples > 1 && loaded.spec.inference !== 'svi') {
    throw new SpecError(`--samples ${samples}: ${name} has no posterior to sample (trained ${loaded.spec.inference === 'map' ? 'with --inference map' : 'without --inference svi'}); drop --samples`);
  }
  const { test, spec } = loadTestFor(loaded, name, o);
  const core = await loadCore(o.flavour);
  let r;
  try {
    r = evaluateSamples(core, { ...loaded, spec }, test, dataSource(test, spec), samples, o.batch ?? 256);
  } finally {
    closeDataset(test);
  }
  return {
    dataset: test.name, testSamples: test.count, testAccuracy: r.accuracy, testNll: r.nll, testEce: r.ece, posteriorSamples: r.samples,
    params: modelParams(spec), denseParams: denseParams(spec), flavour: core.flavour,
  };
}

/**
 * The test rows a model is scored on, read as the model reads them: mnist (default), a directory's
 * IDX test pair, or a CSV with the model's own columns (its btnn.data); `spec` is the model's spec
 * bound to them. Refused with what the model wants and what the data has when it cannot read them.
 */
export function loadTestFor(loaded: LoadedModel, name: string, o: { data?: string; limitTest?: number }): { test: Dataset; spec: ModelSpec } {
  const src = o.data ?? 'mnist';
  // What the model remembers of its data (btnn.data): the CSV it came from, its columns and classes.
  let dict: (DataDictionary & { train?: { kind?: string; path?: string } }) | null = null;
  try { dict = JSON.parse(loaded.metadata['btnn.data'] ?? 'null'); } catch { dict = null; }
  if (o.data === undefined && dict?.train?.kind === 'csv') {
    throw new DataError(`${name} was trained on the CSV ${dict.train.path}: give --data with rows of the same columns (MNIST cannot feed it)`);
  }
  // A CSV is read with the model's own columns, vocabularies and classes (its btnn.data), every row a test row.
  const csv = src !== 'mnist' && existsSync(src) && !statSync(src).isDirectory();
  if (csv) {
    if (!dict?.columns) throw new DataError(`--data ${src}: ${name} carries no data dictionary (written before btnn read CSVs, or altered); it cannot map a CSV's columns`);
  }
  // A directory is scored on its test pair alone, with the model's classes (no train pair needed).
  const dir = src !== 'mnist' && existsSync(src) && statSync(src).isDirectory();
  const test = csv ? limitRows(loadCsvForModel(src, dict!), o.limitTest, '--limit-test')
    : dir ? loadIdxTest(src, modelClasses(loaded.spec), o.limitTest)
      : loadData(src, { limitTest: o.limitTest }).test;
  if (test.target.kind !== 'classes') throw new DataError(`--data ${src}: eval scores classifiers; ${test.name} has a numeric target`);
  // Refused, with what the model wants and what the data has, when the model cannot read it.
  try {
    return { test, spec: bindSpec(loaded.spec, test) };
  } catch (err) {
    closeDataset(test);
    throw err;
  }
}
