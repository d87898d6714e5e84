// Evaluating a trained model on MNIST's test split (the library's `evaluate`, and `btnn eval`):
// the posterior mean, or the average of K posterior draws for SVI models. A model MNIST cannot
// feed is refused with a message, never scored at chance.
import { buildGraph } from '../spec/graph.js';
import { SpecError } from '../spec/types.js';
import { modelParams, denseParams } from '../model/layers.js';
import { loadModel, type LoadedModel } from '../model/file.js';
import { loadMnist } from '../data/mnist.js';
import { normalizeInputs } from '../data/normalize.js';
import { loadCore, type Flavour } from '../core/wasm.js';
import { evaluateSamples } from '../ard/predict.js';

export interface EvaluateOptions {
  /** Only the first N test images (default all 10 000). */
  limitTest?: number;
  /** SVI models: average the class probabilities of K posterior draws (default 1: the posterior mean). */
  samples?: number;
  /** Evaluation batch (default 256); results do not depend on it. */
  batch?: number;
  flavour?: Flavour;
}

export interface EvaluateResult {
  testSamples: number; testAccuracy: number; testNll: number; testEce: number; posteriorSamples: number;
  params: number; denseParams: number; flavour: Flavour;
}

export async function evaluate(model: string | LoadedModel, o: EvaluateOptions = {}): Promise<EvaluateResult> {
  const loaded = typeof model === 'string' ? loadModel(model) : model;
  const name = typeof model === 'string' ? model : 'the model';
  const { spec } = loaded;
  const samples = o.samples ?? 1;
  if (!Number.isSafeInteger(samples) || samples < 1) throw new SpecError(`samples = ${samples}: must be an integer >= 1`);
  if (samples > 1 && spec.inference !== 'svi') {
    throw new SpecError(`--samples ${samples}: ${name} has no posterior to sample (trained ${spec.inference === 'map' ? 'with --inference map' : 'without --inference svi'}); drop --samples`);
  }
  const test = loadMnist('test', o.limitTest);
  const graph = buildGraph(spec);
  const inputs = spec.inputs, outWidth = graph.values.get(graph.lossInput)!.width;
  if (inputs.length !== 1 || graph.values.get(inputs[0].name)!.width !== test.features || spec.loss.kind !== 'softmax-xent' || outWidth !== test.classes) {
    throw new SpecError(`${name}: the model takes ${inputs.map((x) => `${x.name} [${x.shape}]`).join(', ')} and predicts ${outWidth} outputs (${spec.loss.kind}); MNIST has ${test.features} inputs and ${test.classes} classes`);
  }
  if (spec.inputNorm) normalizeInputs(test, spec.inputNorm);
  const core = await loadCore(o.flavour);
  const r = evaluateSamples(core, loaded, test, samples, o.batch ?? 256);
  return {
    testSamples: test.count, testAccuracy: r.accuracy, testNll: r.nll, testEce: r.ece, posteriorSamples: r.samples,
    params: modelParams(spec), denseParams: denseParams(spec), flavour: core.flavour,
  };
}
