// `btnn eval`: a model file on MNIST's test split; refuses a model MNIST cannot feed.
import { evaluate } from '../train/evaluate.js';
import { COMMON, UsageError, choiceOption, flavourOption, intOption, type Command, type Values } from './options.js';
import { evaluateQuant } from '../export/evaluate-quant.js';
import { evaluateWasm } from '../export/evaluate-wasm.js';
import { openSync, readSync, closeSync } from 'node:fs';
import { modelPath } from './model-path.js';

async function run(values: Values): Promise<number> {
  const path = modelPath('--model', values.model as string | undefined, 'eval');
  if (isWasmFile(path)) return runWasm(path, values);
  const bits = choiceOption(values, 'bits', ['32', '16', '8'] as const, '32');
  if (bits !== '32') return runQuant(path, Number(bits) as 8 | 16, values);
  if (values.calibrate !== undefined) throw new UsageError('--calibrate: only with --bits 16 or 8 (f32 needs no calibration); drop it');
  const r = await evaluate(path, {
    batch: intOption(values, 'batch', 256, 1, 65536)!, samples: intOption(values, 'samples', 1, 1, 10000)!,
    flavour: flavourOption(values), limitTest: intOption(values, 'limit-test', undefined, 1, 2 ** 31), data: values.data as string | undefined,
  });
  if (values.json) process.stdout.write(JSON.stringify({ model: path, ...r }, null, 2) + '\n');
  else console.log(`test accuracy ${(100 * r.testAccuracy).toFixed(2)} % (${r.testSamples} rows of ${r.dataset}, NLL ${r.testNll.toFixed(4)}, ECE ${r.testEce.toFixed(4)}, ${r.posteriorSamples} posterior sample(s)), ${r.params} params, ${r.flavour} core`);
  return 0;
}

/** The model quantised as `btnn export --bits` does, in the node core, against its f32 program. */
async function runQuant(path: string, bits: 8 | 16, values: Values): Promise<number> {
  for (const k of ['samples', 'batch']) {
    if (values[k] !== undefined) throw new UsageError(`--${k}: not with --bits ${bits} (the integer program runs the posterior mean one row at a time); drop it`);
  }
  const r = await evaluateQuant(path, {
    bits, data: values.data as string | undefined, limitTest: intOption(values, 'limit-test', undefined, 1, 2 ** 31),
    calibrate: intOption(values, 'calibrate', 512, 1, 2 ** 31), flavour: flavourOption(values),
  });
  if (values.json) process.stdout.write(JSON.stringify({ model: path, ...r }, null, 2) + '\n');
  else console.log(`test accuracy ${(100 * r.testAccuracy).toFixed(2)} % at ${bits} bits (f32 ${(100 * r.f32Accuracy).toFixed(2)} %, drop ${r.dropPoints.toFixed(2)} points; ${r.testSamples} rows of ${r.dataset}; calibrated on ${r.calibration}), ${r.weightsBytes} weight bytes, arena ${r.arenaBytes} bytes, ${r.flavour} core`);
    console.log(`golden model (hw-sim) over the first ${r.golden.rows} rows: ${r.golden.overflows} int32 overflows, ${r.golden.saturations} saturations; the core matched it on ${r.golden.matches}/${r.golden.rows} rows`);
  return 0;
}

/** A WebAssembly module (its magic bytes), not a model file. */
function isWasmFile(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.equals(Buffer.from([0, 0x61, 0x73, 0x6d]));
  } finally {
    closeSync(fd);
  }
}

/** An exported module, in V8: the options that pick a core or posterior draws do not apply. */
async function runWasm(path: string, values: Values): Promise<number> {
  for (const k of ['samples', 'batch', 'flavour', 'bits', 'calibrate']) {
    if (values[k] !== undefined) throw new UsageError(`--${k}: not for an exported module (${path} runs one row at a time on its own kernels); drop it`);
  }
  const r = await evaluateWasm(path, { limitTest: intOption(values, 'limit-test', undefined, 1, 2 ** 31), data: values.data as string | undefined });
  if (values.json) process.stdout.write(JSON.stringify({ model: path, ...r }, null, 2) + '\n');
  else console.log(`test accuracy ${(100 * r.testAccuracy).toFixed(2)} % (${r.testSamples} rows of ${r.dataset}), exported ${r.target} module at ${r.bits} bits run in V8`);
  return 0;
}

export const EVAL: Command = {
  name: 'eval',
  summary: 'reload a model file and report its test accuracy, NLL and calibration (MNIST, IDX files or a CSV)',
  usage: 'btnn eval --model FILE|model.wasm [--data SRC] [--bits 32|16|8] [--calibrate N] [--samples K] [--batch N] [--limit-test N] [--flavour F] [--json]',
  options: {
    model: { type: 'string', arg: 'FILE', help: 'a model.safetensors written by btnn train, or a model.wasm written by\nbtnn export (run in V8 through its ABI)' },
    data: { type: 'string', arg: 'SRC', help: 'score on this data: mnist (default) or a directory of IDX files (their test\nsplit), or a CSV (every row, read with the model\'s columns, vocabularies and\nclasses); a model that cannot read it (widths, classes) is refused' },
    batch: { type: 'string', arg: 'N', help: 'evaluation batch size (default 256); results do not depend on it' },
    samples: { type: 'string', arg: 'K', help: 'models trained with --inference svi: average the predictions of K\nposterior draws (default 1: the posterior mean); prints accuracy, NLL and\nexpected calibration error (15 bins)' },
    'limit-test': { type: 'string', arg: 'N', help: 'use only the first N test rows (default: all)' },
    bits: { type: 'string', arg: 'B', help: '32 (default), or 16 / 8: quantise the model exactly as btnn export --bits\ndoes (power-of-two scales, int32 accumulation) and run the integer program\nin the core; prints the accuracy and its drop against the same program in f32' },
    calibrate: { type: 'string', arg: 'N', help: 'with --bits 16 / 8: calibration rows from the training split (default 512)' },
    ...COMMON,
  },
  notes: 'eval runs on one thread; the result does not depend on the batch size or thread count.',
  run: (values) => run(values),
};
