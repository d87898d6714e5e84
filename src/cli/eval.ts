// `btnn eval`: a model file on MNIST's test split; refuses a model MNIST cannot feed.
import { buildGraph } from '../spec/graph.js';
import { modelParams, denseParams } from '../model/layers.js';
import { loadModel } from '../model/file.js';
import { loadMnist } from '../data/mnist.js';
import { normalizeInputs } from '../data/normalize.js';
import { loadCore } from '../core/wasm.js';
import { evaluateSamples } from '../ard/predict.js';
import { COMMON, UsageError, flavourOption, intOption, type Command, type Values } from './options.js';
import { modelPath } from './model-path.js';

async function run(values: Values): Promise<number> {
  const path = modelPath('--model', values.model as string | undefined, 'eval');
  const model = loadModel(path);
  const batch = intOption(values, 'batch', 256, 1, 65536)!;
  const samples = intOption(values, 'samples', 1, 1, 10000)!;
  const flavour = flavourOption(values);
  const test = loadMnist('test', intOption(values, 'limit-test', undefined, 1, 10000));
  const graph = buildGraph(model.spec);
  const inputs = model.spec.inputs, outWidth = graph.values.get(graph.lossInput)!.width;
  if (inputs.length !== 1 || graph.values.get(inputs[0].name)!.width !== test.features || model.spec.loss.kind !== 'softmax-xent' || outWidth !== test.classes) {
    throw new UsageError(`${path}: the model takes ${inputs.map((x) => `${x.name} [${x.shape}]`).join(', ')} and predicts ${outWidth} outputs (${model.spec.loss.kind}); MNIST has ${test.features} inputs and ${test.classes} classes`);
  }
  if (model.spec.inputNorm) normalizeInputs(test, model.spec.inputNorm);
  if (samples > 1 && model.spec.inference !== 'svi') {
    throw new UsageError(`--samples ${samples}: ${path} has no posterior to sample (trained ${model.spec.inference === 'map' ? 'with --inference map' : 'without --inference svi'}); drop --samples`);
  }
  const core = await loadCore(flavour);
  const r = evaluateSamples(core, model, test, samples, batch);
  const result = {
    model: path, testSamples: test.count, testAccuracy: r.accuracy, testNll: r.nll, testEce: r.ece, posteriorSamples: r.samples,
    params: modelParams(model.spec), denseParams: denseParams(model.spec), flavour: core.flavour,
  };
  if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else console.log(`test accuracy ${(100 * r.accuracy).toFixed(2)} % (${test.count} images, NLL ${r.nll.toFixed(4)}, ECE ${r.ece.toFixed(4)}, ${r.samples} posterior sample(s)), ${result.params} params, ${core.flavour} core`);
  return 0;
}

export const EVAL: Command = {
  name: 'eval',
  summary: 'reload a model file and report its MNIST test accuracy, NLL and calibration',
  usage: 'btnn eval --model FILE [--samples K] [--batch N] [--limit-test N] [--flavour F] [--json]',
  options: {
    model: { type: 'string', arg: 'FILE', help: 'a model.safetensors written by btnn train' },
    batch: { type: 'string', arg: 'N', help: 'evaluation batch size (default 256); results do not depend on it' },
    samples: { type: 'string', arg: 'K', help: 'models trained with --inference svi: average the predictions of K\nposterior draws (default 1: the posterior mean); prints accuracy, NLL and\nexpected calibration error (15 bins)' },
    'limit-test': { type: 'string', arg: 'N', help: 'use only the first N test images (default: all 10000)' },
    ...COMMON,
  },
  notes: 'eval runs on one thread; the result does not depend on the batch size or thread count.',
  run: (values) => run(values),
};
