// `btnn eval --model DIR/model.wasm`: an exported module scored in V8 through its ABI alone, on
// the test rows its description (the btnn.model custom section) says it reads.
import { readFileSync } from 'node:fs';
import type { ModelSpec } from '../spec/types.js';
import { DataError, closeDataset, targetArray } from '../data/dataset.js';
import { dataSource } from '../train/data.js';
import { loadTestFor } from '../train/evaluate.js';
import { ModelFileError } from '../model/file.js';
import { WasmModel, moduleDescription } from './module.js';
import { rowBytes, writeRow } from '../image/rows.js';
import type { ImageInput } from '../image/image.js';
import type { ClassRule } from '../image/abi.js';

export interface WasmEvalResult { dataset: string; testSamples: number; testAccuracy: number; runtime: 'v8'; bits: number; target: string }

export async function evaluateWasm(path: string, o: { data?: string; limitTest?: number } = {}): Promise<WasmEvalResult> {
  const bytes = new Uint8Array(readFileSync(path));
  if (!WebAssembly.validate(bytes)) throw new ModelFileError(`${path}: not a valid WebAssembly module`);
  const d = moduleDescription(bytes) as { spec: ModelSpec; data: string | null; inputs: ImageInput[]; classRule: ClassRule; bits: number; target: string } | null;
  if (!d) throw new ModelFileError(`${path}: a WebAssembly module without a btnn.model section: not written by btnn export`);
  if (d.classRule === 'none') throw new DataError(`${path}: the model has no classes (a regression output); eval scores classifiers`);
  const { test, spec } = loadTestFor({ spec: d.spec, metadata: d.data ? { 'btnn.data': d.data } : {}, tensors: new Map() }, path, o);
  try {
    const source = dataSource(test, spec);
    const model = await WasmModel.load(bytes, d.classRule);
    const row = new Uint8Array(rowBytes(d.inputs));
    const labels = targetArray(test.target);
    let correct = 0;
    for (let r = 0; r < test.count; r++) {
      writeRow(row, 0, d.inputs, source, r);
      if (model.run(row, 0).cls === labels[r]) correct++;
    }
    return { dataset: test.name, testSamples: test.count, testAccuracy: correct / test.count, runtime: 'v8', bits: d.bits, target: d.target };
  } finally {
    closeDataset(test);
  }
}
