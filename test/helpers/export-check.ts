// btnn export, checked where the model runs (test/export.test.ts: f32; test/export-int.test.ts: 16 and 8 bits): for models of every format (seeded random weights,
// trained models from test/fixtures), the exported module reproduces btnn's own outputs bit for
// bit — its baked test vectors (btnn_check) in V8, wasm3 and WAMR (scalar and SIMD modules), and
// every class and f32 score over MNIST test rows run through the C test hosts on both runtimes and
// through the C export compiled with gcc, against btnn's node core running the same program.
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadCore, type Core } from '../../src/core/wasm.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { initialise } from '../../src/runtime/init.js';
import { defaultSpec } from '../../src/spec/defaults.js';
import { FORMATS } from '../../src/spec/formats.js';
import { saveModel, loadModel } from '../../src/model/file.js';
import type { ModelSpec } from '../../src/spec/types.js';
import { validateSpec } from '../../src/spec/validate.js';
import { exportModel } from '../../src/export/export.js';
import { WasmModel, moduleDescription } from '../../src/export/module.js';
import { classOf } from '../../src/image/abi.js';
import { loadData } from '../../src/data/source.js';
import { calibrationRows } from '../../src/export/calibration.js';
import { quantiseModel, layoutQuant } from '../../src/image/quant-image.js';
import { ImageRunner } from '../../src/export/run-image.js';
// @ts-expect-error plain ESM script without type declarations
import { wasmHosts } from '../../src/scripts/wasm-hosts.mjs';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const CLI = join(root, 'build', 'js', 'src', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'btnn-export-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const mnistInput = (spec: ModelSpec): ModelSpec => ({ ...spec, inputs: [{ name: 'x', dtype: 'u8', shape: [784], range: 255 }], inputNorm: { mean: 0.13066, std: 0.308108 } });

/** A model file of `spec` with seeded random weights and biases (no training needed for bit checks). */
async function randomModel(core: Core, name: string, spec: ModelSpec, seed: number): Promise<string> {
  const rt = new Runtime(core, spec, 1, 'infer');
  initialise(rt, seed);
  let s = seed >>> 0;
  for (const slot of rt.slots) {
    if (!slot.name.endsWith('.bias')) continue;
    const b = rt.tensor(slot.name);
    for (let i = 0; i < b.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; b[i] = (s / 2 ** 32 - 0.5) * 0.2; }
  }
  const path = join(tmp, `${name}.safetensors`);
  saveModel(path, spec, (n) => rt.tensor(n).slice());
  return path;
}

// Interpreters run these at ~40 M multiply-adds/s: random full-rank models get a few hundred rows,
// the small trained SVI model the whole test set.
const ROWS = 60;
/** Calibration rows (the CLI's default is 512; fewer keep the JS calibration pass short here). */
const CALIBRATE = 64;
const mnistTest = loadData('mnist').test;
const testImages = mnistTest.inputs[0].data as Uint8Array;
/** The first test rows as the model's input reads them: bytes, or (f32 inputs) their values as floats. */
const inBin = (rows: number, dtype: string): string => {
  const p = join(tmp, `mnist-${rows}-${dtype}.bin`);
  const bytes = testImages.subarray(0, rows * 784);
  if (!existsSync(p)) writeFileSync(p, dtype === 'u8' ? bytes : new Uint8Array(Float32Array.from(bytes).buffer));
  return p;
};

/** btnn's own outputs for the first `rows` test rows: node core, batch 1, the direct path (the export's program). */
function reference(core: Core, modelPath: string, spec: ModelSpec, rows: number): Uint8Array {
  const m = loadModel(modelPath);
  const rt = new Runtime(core, spec, 1, 'infer', { path: 'direct' });
  for (const s of rt.slots) rt.tensor(s.name).set(m.tensors.get(s.name)!.data);
  const out = new Uint8Array(rows * 44);
  const view = new DataView(out.buffer);
  const source = { inputs: { x: testImages } };
  for (let r = 0; r < rows; r++) {
    rt.inferStep({ source, rows: 1, row: () => r });
    const scores = rt.outputs(1);
    view.setInt32(r * 44, classOf('argmaxF32', scores), true);
    out.set(new Uint8Array(scores.buffer), r * 44 + 4);
  }
  return out;
}

/** The integer reference: the model quantised as eval --bits does, run by the node core. */
function intReference(core: Core, modelPath: string, spec: ModelSpec, bits: 8 | 16, rows: number): Uint8Array {
  const model = { ...loadModel(modelPath), spec };
  const cal = calibrationRows(spec, mnistTest, undefined, CALIBRATE);
  const q = quantiseModel(model, { bits, calibration: cal.calibration });
  cal.close();
  const runner = new ImageRunner(core, layoutQuant(q, { base: core.exports.heapBase(), bits }));
  const out = new Uint8Array(rows * 44);
  const view = new DataView(out.buffer);
  for (let r = 0; r < rows; r++) {
    const scores = runner.run(testImages, r * 784);
    view.setInt32(r * 44, classOf('argmaxF32', runner.scores()), true);
    out.set(scores, r * 44 + 4);
  }
  return out;
}

function firstDiff(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  const i = a.findIndex((x, j) => x !== b[j]);
  return i < 0 ? 'equal' : `row ${Math.floor(i / 44)} byte ${i % 44} differs`;
}

const core = await loadCore('node');
const hosts = await wasmHosts() as { wasm3Host: string; wamrHost: string; skip?: string };
const gcc = spawnSync('gcc', ['--version']).status === 0;

const models: { name: string; path: string; rows: number }[] = [];
for (const [i, f] of FORMATS.entries()) models.push({ name: f, path: await randomModel(core, f, mnistInput(defaultSpec(f)), 11 + i), rows: ROWS });
models.push({ name: 'mlp-mixed', path: await randomModel(core, 'mlp-mixed', mnistInput(validateSpec(JSON.parse(readFileSync(join(root, 'examples', 'mlp-mixed.json'), 'utf8')))), 5), rows: ROWS });
// Trained models written by btnn 0.1: a TTM, and an SVI model (its posterior mean is exported).
models.push({ name: 'fixture-ttm', path: join(root, 'test', 'fixtures', 'v1', 'ttm.safetensors'), rows: 1000 });
models.push({ name: 'fixture-svi', path: join(root, 'test', 'fixtures', 'v1', 'svi.safetensors'), rows: 10000 });

export function checkExports(bitsList: (32 | 16 | 8)[]): void {
for (const m of models) for (const bits of bitsList) {
  t.test(`${m.name} at ${bits} bits: exported modules and C reproduce btnn bit for bit`, async (t) => {
    let want: Uint8Array | null = null, rows = '';
    // Integer kernels run ~4× slower than f32 in the interpreters: fewer rows, except the full-test-set model.
    const rowCount = bits === 32 || m.rows === 10000 ? m.rows : Math.min(m.rows, m.name.startsWith('fixture') ? 200 : 30);
    for (const target of ['wasm', 'wasm-simd', 'c'] as const) {
      const dir = join(tmp, `${m.name}-${bits}-${target}`);
      const r = await exportModel(m.path, { out: dir, target, bits, testVectors: 16, calibrate: CALIBRATE });
      t.equal(r.testVectors, 16, `${target}: 16 test vectors`);
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
      // The exported spec is the model's bound to MNIST (bytes in), as btnn eval runs it.
      t.equal(json.spec.inputs[0].dtype, 'u8', `${target}: reads MNIST's bytes`);
      want ??= bits === 32 ? reference(core, m.path, json.spec, rowCount) : intReference(core, m.path, json.spec, bits, rowCount);
      rows ||= inBin(rowCount, json.spec.inputs[0].dtype);
      t.equal(json.arenaBytes, r.arenaBytes, `${target}: model.json arenaBytes`);
      if (target !== 'c') {
        const bytes = new Uint8Array(readFileSync(join(dir, 'model.wasm')));
        t.same(WebAssembly.Module.imports(new WebAssembly.Module(bytes)), [], `${target}: no imports`);
        t.equal(r.moduleBytes, bytes.length, `${target}: moduleBytes is the file's size`);
        t.equal(moduleDescription(bytes)?.arenaBytes, r.arenaBytes, `${target}: the module carries its description`);
        const v8 = await WasmModel.load(bytes, bits === 32 ? 'argmaxF32' : 'argmaxI32');
        t.same(v8.check(), { reproduced: 16, count: 16 }, `${target}: btnn_check() = 16 in V8`);
        if (hosts.skip) { t.skip(`wasm3/WAMR: ${hosts.skip}`); continue; }
        const runtimes = target === 'wasm' ? [['wasm3', hosts.wasm3Host], ['WAMR', hosts.wamrHost]] : [['WAMR', hosts.wamrHost]];
        for (const [name, host] of runtimes) {
          const check = await exec(host, [join(dir, 'model.wasm'), 'check']);
          t.match(check.stdout, /check 16\/16/, `${target} on ${name}: btnn_check() = 16`);
          const out = join(dir, `out-${name}.bin`);
          await exec(host, [join(dir, 'model.wasm'), 'run', rows, out]);
          const got = new Uint8Array(readFileSync(out));
          t.ok(got.length === want!.length && got.every((x, j) => x === want![j]), `${target} on ${name}: ${rowCount} rows, every class and score equal btnn's (${firstDiff(got, want!)})`);
        }
      } else {
        if (!gcc) { t.skip('gcc is not installed'); continue; }
        const exe = join(dir, 'host');
        const cc = spawnSync('gcc', ['-std=c99', '-O2', '-Wall', '-Wextra', '-Werror', '-ffp-contract=off', '-I', dir, join(dir, 'model.c'), join(root, 'test', 'hosts', 'c-model-host.c'), '-o', exe], { encoding: 'utf8' });
        t.equal(cc.status, 0, `C: compiles cleanly with -std=c99 -Wall -Wextra -Werror ${cc.stderr}`);
        if (cc.status !== 0) continue;
        t.match(spawnSync(exe, ['check'], { encoding: 'utf8' }).stdout, /check 16\/16/, 'C: btnn_check() = 16');
        const out = join(dir, 'out.bin');
        t.equal(spawnSync(exe, ['run', rows, out]).status, 0, 'C: runs the rows');
        const got = new Uint8Array(readFileSync(out));
        t.ok(got.length === want!.length && got.every((x, j) => x === want![j]), `C: ${rowCount} rows, every class and score equal btnn's (${firstDiff(got, want!)})`);
      }
    }
  });
}
}

export { tmp, root, CLI };
