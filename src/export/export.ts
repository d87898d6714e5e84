// `btnn export`: a trained model as a standalone module for devices. Everything is built and
// checked in memory first — the module must reproduce btnn's own outputs on its baked test vectors
// in V8 before anything is written — then the files go to --out, each written atomically.
import { accessSync, constants, existsSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../model/file.js';
import { loadCore } from '../core/wasm.js';
import { Runtime } from '../runtime/runtime.js';
import { dataSource } from '../train/data.js';
import { loadTestFor } from '../train/evaluate.js';
import { closeDataset, sliceRows, type Dataset } from '../data/dataset.js';
import { modelParams } from '../model/layers.js';
import { makeDirs } from '../io/mkdir.js';
import { writeFileAtomic } from '../io/atomic.js';
import { buildImage, ExportError, type ModelImage } from '../image/image.js';
import { buildModule, templateBase, templateBytes, WasmModel, type WasmTarget, type TestVectors } from './module.js';
import { rowBytes, writeRow } from '../image/rows.js';
import { writeC } from './c.js';
import { ABI_VERSION } from '../image/abi.js';
import { quantiseModel, layoutQuant, type Quantised } from '../image/quant-image.js';
import { calibrationRows } from './calibration.js';
import { ImageRunner } from './run-image.js';

export type ExportTarget = WasmTarget | 'c';
export const EXPORT_TARGETS: ExportTarget[] = ['wasm', 'wasm-simd', 'c'];

export interface ExportOptions {
  out: string;
  target?: ExportTarget;
  bits?: 32 | 16 | 8;
  /** Test vectors baked into the module for btnn_check (default 16). */
  testVectors?: number;
  /** The arena (mutable memory) must fit this many bytes. */
  arenaBytes?: number;
  /** Integer exports: calibration rows (default 512) from the training split. */
  calibrate?: number;
  /** Where the test vectors come from (default: the model's test data, as `btnn eval` reads it). */
  data?: string;
  log?: (line: string) => void;
}

export interface ExportResult {
  dir: string; files: string[]; target: ExportTarget; bits: number;
  moduleBytes: number | null; weightsBytes: number; tablesBytes: number; programBytes: number; arenaBytes: number; memoryBytes: number | null;
  params: number; testVectors: number;
}

/** Test vectors: the first K test rows, and btnn's own outputs for them (node core, same program). */
async function testVectors(model: LoadedModel, image: ModelImage, test: Dataset): Promise<TestVectors> {
  const count = test.count;
  const source = dataSource(test, image.spec);
  const stride = rowBytes(image.inputs);
  const inputs = new Uint8Array(count * stride);
  const outputs = new Uint8Array(count * image.output.bytes);
  const core = await loadCore();
  const rt = new Runtime(core, image.spec, 1, 'infer', { path: 'direct', workspaceBudgetBytes: image.arenaBytes });
  for (const s of rt.slots) rt.tensor(s.name).set(model.tensors.get(s.name)!.data);
  for (let r = 0; r < count; r++) {
    writeRow(inputs, r * stride, image.inputs, source, r);
    rt.inferStep({ source, rows: 1, row: () => r });
    outputs.set(new Uint8Array(rt.outputs(1).buffer), r * image.output.bytes);
  }
  return { count, inputs, outputs };
}

/** Test vectors of an integer image: the first rows and btnn's node core's integer outputs for them. */
function imageVectors(runner: ImageRunner, image: ModelImage, test: Dataset): TestVectors {
  const source = dataSource(test, image.spec);
  const stride = rowBytes(image.inputs);
  const inputs = new Uint8Array(test.count * stride);
  const outputs = new Uint8Array(test.count * image.output.bytes);
  for (let r = 0; r < test.count; r++) {
    writeRow(inputs, r * stride, image.inputs, source, r);
    outputs.set(runner.run(inputs, r * stride), r * image.output.bytes);
  }
  return { count: test.count, inputs, outputs };
}

function checkOut(out: string): void {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new ExportError(`--out ${out} is a file: give a directory (it is created if missing)`);
  try {
    makeDirs(out);
    accessSync(out, constants.W_OK);
  } catch (err) {
    throw new ExportError(`--out ${out}: cannot write there (${(err as Error).message}); choose a writable directory`);
  }
}

export async function exportModel(modelPath: string, o: ExportOptions): Promise<ExportResult> {
  const target = o.target ?? 'wasm';
  const bits = o.bits ?? 32;
  const k = o.testVectors ?? 16;
  const log = o.log ?? (() => {});
  const loaded = loadModel(modelPath);
  // The spec bound to the data it reads (as btnn eval binds it: a model fed MNIST reads its bytes),
  // so the module takes rows exactly as the data holds them.
  const { test, spec } = loadTestFor(loaded, modelPath, { data: o.data });
  let image: ModelImage, vectors: TestVectors;
  const model = { ...loaded, spec };
  const template = templateBytes(target === 'wasm-simd' ? 'wasm-simd' : 'wasm');
  const headerAt = await templateBase(template);
  try {
    const vectorRows = sliceRows(test, 0, Math.min(k, test.count));
    if (bits === 32) {
      image = buildImage(model, { base: headerAt, arenaBytes: o.arenaBytes });
      vectors = await testVectors(model, image, vectorRows);
    } else {
      // One quantised program, laid out twice: for the module, and for btnn's node core (the reference).
      const core = await loadCore();
      const cal = calibrationRows(spec, test, o.data, o.calibrate ?? 512);
      let q: Quantised;
      try {
        q = quantiseModel(model, { arenaBytes: o.arenaBytes, bits, calibration: cal.calibration });
      } finally {
        cal.close();
      }
      log(`calibrated on ${cal.from}`);
      for (const h of q.quant.headroom) log(`warning: contraction ${h.op} reaches ${h.accMax.toExponential(2)} in int32 on the calibration rows with no weight to rescale: unseen rows may wrap`);
      image = layoutQuant(q, { base: headerAt, arenaBytes: o.arenaBytes, bits });
      const own = layoutQuant(q, { base: core.exports.heapBase(), arenaBytes: o.arenaBytes, bits });
      vectors = imageVectors(new ImageRunner(core, own), own, vectorRows);
    }
    log(`image: ${image.weightsBytes} weight bytes, ${image.tablesBytes} table bytes, ${image.program.length * 4} program bytes, arena ${image.arenaBytes} bytes`);
  } finally {
    closeDataset(test);
  }
  const description = {
    btnn: { abi: ABI_VERSION, exportedFrom: modelPath },
    target, bits,
    inputs: image.inputs, output: image.output, classRule: image.classRule,
    ...(image.quant ? { quant: {
      weightFracs: image.quant.weightFracs, activations: image.quant.activationFracs, rounding: 'nearest-even', accumulator: 'int32 (wrapping)',
      quantisationSaturations: image.quant.counters.saturations, headroomWarnings: image.quant.headroom,
    } } : {}),
    weightsBytes: image.weightsBytes, tablesBytes: image.tablesBytes, programBytes: image.program.length * 4, arenaBytes: image.arenaBytes,
    params: modelParams(image.spec), testVectors: vectors.count,
    layers: image.prepared.layerPlans.map((p) => ({ layer: p.layer.name, format: p.layer.format, path: p.chosen.kind, flopsPerSample: p.chosen.flopsPerSample })),
    spec: image.spec, data: model.metadata['btnn.data'] ?? null,
  };
  // The wasm module is built for every target: the C export is checked against its test vectors too.
  const built = buildModule(template, image, vectors, description, headerAt);
  const check = (await WasmModel.load(built.bytes, image.classRule)).check();
  if (check.count !== vectors.count || check.reproduced !== check.count) {
    throw new Error(`export: the module reproduces ${check.reproduced} of its ${check.count} test vectors in V8; this is a btnn bug, please report it`);
  }
  checkOut(o.out);
  const files: { name: string; data: Uint8Array | string }[] = [];
  if (target === 'c') {
    const c = writeC(image, vectors);
    files.push({ name: 'model.h', data: c.header }, { name: 'model.c', data: c.source });
  } else {
    files.push({ name: 'model.wasm', data: built.bytes });
  }
  const json = { ...description, moduleBytes: target === 'c' ? null : built.bytes.length, memoryBytes: target === 'c' ? null : built.memoryBytes, files: [...files.map((f) => f.name), 'model.json'] };
  files.push({ name: 'model.json', data: JSON.stringify(json, null, 2) + '\n' });
  // All files are written (and synced) into a fresh directory inside --out first, then renamed into
  // place: a failure while writing (a full disk) leaves the previous export untouched.
  const staging = mkdtempSync(join(o.out, '.btnn-export-'));
  try {
    for (const f of files) writeFileAtomic(join(staging, f.name), f.data);
    for (const f of files) renameSync(join(staging, f.name), join(o.out, f.name));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return {
    dir: o.out, files: files.map((f) => f.name), target, bits, moduleBytes: json.moduleBytes, weightsBytes: image.weightsBytes, tablesBytes: image.tablesBytes,
    programBytes: image.program.length * 4, arenaBytes: image.arenaBytes, memoryBytes: json.memoryBytes, params: modelParams(image.spec), testVectors: vectors.count,
  };
}
