// `btnn export`: a trained model as a standalone WebAssembly module or portable C for devices.
import { exportModel, EXPORT_TARGETS, type ExportTarget } from '../export/export.js';
import { COMMON, UsageError, choiceOption, intOption, type Command, type Values } from './options.js';
import { modelPath } from './model-path.js';

function refuseCalibrate(values: Values): undefined {
  if (values.calibrate !== undefined) throw new UsageError('--calibrate: only with --bits 16 or 8 (f32 needs no calibration); drop it');
  return undefined;
}

async function run(values: Values): Promise<number> {
  const path = modelPath('--model', values.model as string | undefined, 'export');
  const out = values.out as string | undefined;
  if (!out) throw new UsageError('export needs --out DIR (the directory for model.wasm or model.c/model.h, and model.json)');
  const bits = choiceOption(values, 'bits', ['32', '16', '8'] as const, '32');
  const target = choiceOption(values, 'target', EXPORT_TARGETS, 'wasm') as ExportTarget;
  const quiet = Boolean(values.json);
  const r = await exportModel(path, {
    out, target, bits: Number(bits) as 32 | 16 | 8,
    testVectors: intOption(values, 'test-vectors', 16, 0, 100000)!,
    arenaBytes: intOption(values, 'arena-bytes', undefined, 1, 2 ** 32),
    calibrate: bits === '32' ? refuseCalibrate(values) : intOption(values, 'calibrate', 512, 1, 2 ** 31)!,
    data: values.data as string | undefined,
    log: quiet ? undefined : (line) => console.log(line),
  });
  if (values.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else {
    console.log(`wrote ${r.files.map((f) => `${out}/${f}`).join(', ')}`);
    console.log(`${r.params} params: ${r.weightsBytes} weight bytes (flash), arena ${r.arenaBytes} bytes (RAM)${r.moduleBytes !== null ? `, module ${r.moduleBytes} bytes, memory ${r.memoryBytes} bytes` : ''}; ${r.testVectors} test vectors reproduce btnn's outputs bit for bit in V8`);
  }
  return 0;
}

export const EXPORT: Command = {
  name: 'export',
  summary: 'write a trained model as a standalone .wasm module (wasm3, WAMR, browsers) or as C99',
  usage: 'btnn export --model FILE --out DIR [--target wasm|wasm-simd|c] [--bits 32|16|8] [--calibrate N] [--test-vectors K] [--arena-bytes N] [--data SRC] [--json]',
  options: {
    model: { type: 'string', arg: 'FILE', help: 'a model.safetensors written by btnn train (SVI/MAP models export their\nposterior mean; rank variances and posterior scales are dropped)' },
    out: { type: 'string', arg: 'DIR', help: 'directory for the files (created if missing; files of the same names are\nreplaced, each atomically)' },
    target: { type: 'string', arg: 'T', help: 'wasm (default: MVP WebAssembly, runs in wasm3, WAMR and every browser),\nwasm-simd (128-bit SIMD kernels: WAMR, V8), or c (model.h + model.c, C99)' },
    bits: { type: 'string', arg: 'B', help: '32 (f32, default), 16 or 8: post-training quantisation — weights\nsymmetric with a power-of-two scale per tensor, activations with one per op\noutput calibrated on training rows, int32 accumulation, round-half-even and\nsaturation after every contraction; the scores are the last int32 accumulator' },
    calibrate: { type: 'string', arg: 'N', help: 'with --bits 16 / 8: calibration rows from the training split (default 512)' },
    'test-vectors': { type: 'string', arg: 'K', help: 'test rows baked in with btnn\'s own outputs, run by btnn_check()\n(default 16)' },
    'arena-bytes': { type: 'string', arg: 'N', help: 'refuse to export unless the mutable memory (inputs, activations,\nworkspace at batch 1) fits in N bytes; each layer\'s contraction path is\nchosen to fit it' },
    data: { type: 'string', arg: 'SRC', help: 'where the test vectors come from (default: the model\'s test data, as\nbtnn eval reads it)' },
    json: COMMON.json,
  },
  notes: [
    'The module has no imports and a fixed memory (no memory.grow). Its ABI (all i32):',
    '  btnn_input()              address of the input row (btnn_input_at(i) for input i)',
    '  btnn_run()                runs the row; returns the class (argmax of the scores; -1 without classes)',
    '  btnn_output()             address of the scores (f32; int32 at 16 / 8 bits, scale 2^-frac in\n                            model.json output.frac); btnn_output_bytes() their size',
    '  btnn_arena_bytes()        bytes of mutable memory the plan uses',
    '  btnn_check()              how many of the baked test vectors reproduce btnn\'s outputs bit for bit',
    'model.json describes the inputs (dtype, width, address), the output and the sizes.',
    'C: int btnn_run(const T *x, float *scores) and int btnn_check(void); compile with',
    '  gcc -std=c99 -O2 -ffp-contract=off model.c your_main.c',
  ].join('\n'),
  run: (values) => run(values),
};
