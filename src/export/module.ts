// model.wasm: the template module (assembly/model/standalone.ts, built once per target) with the
// model's image as data segments, its memory fixed at the image's size, and its description in a
// `btnn.model` custom section; and a V8 runner for such a module (eval, export's own check).
import { readFileSync } from 'node:fs';
import { wasmPath } from '../core/wasm.js';
import { editModule, customSection } from './wasm-binary.js';
import { ABI_VERSION, CLASS_RULE, H, HEADER_BYTES, MAGIC, classOf, type ClassRule } from '../image/abi.js';
import type { ModelImage, ImageInput } from '../image/image.js';
import { rowBytes } from '../image/rows.js';

export type WasmTarget = 'wasm' | 'wasm-simd';
const WASM_PAGE_BYTES = 65536;
const align16 = (n: number): number => Math.ceil(n / 16) * 16;

export function templateBytes(target: WasmTarget): Uint8Array {
  return readFileSync(wasmPath(target === 'wasm-simd' ? 'model-simd' : 'model-scalar'));
}

/** The template's __heap_base: where the exporter's header goes. */
export async function templateBase(template: Uint8Array): Promise<number> {
  const { instance } = await WebAssembly.instantiate(template as Uint8Array<ArrayBuffer>);
  const base = (instance.exports.btnn_heap_base as () => number)();
  if (base % 16) throw new Error(`wasm template: __heap_base ${base} is not 16-byte aligned (the header and the plan need it)`);
  return base;
}

export interface TestVectors { count: number; inputs: Uint8Array; outputs: Uint8Array }

export interface BuiltModule { bytes: Uint8Array; memoryBytes: number; vectorsAt: number }

/** `headerAt`: the template's __heap_base, where its btnn_* functions read the header (≤ image.base). */
export function buildModule(template: Uint8Array, image: ModelImage, vectors: TestVectors, description: unknown, headerAt = image.base): BuiltModule {
  if (headerAt > image.base || headerAt % 16) throw new Error(`export: header at ${headerAt}, image at ${image.base}`);
  const vectorsAt = align16(image.endBytes);
  const vecIn = vectorsAt, vecOut = align16(vecIn + vectors.inputs.length);
  const end = vecOut + vectors.outputs.length;
  const pages = Math.ceil(end / WASM_PAGE_BYTES);
  if (pages > 65536) throw new Error(`the module needs ${end} bytes of memory, beyond WebAssembly's 4 GiB`);
  const header = new Int32Array(HEADER_BYTES / 4);
  header[H.magic] = MAGIC;
  header[H.version] = ABI_VERSION;
  header[H.program] = image.programAt;
  header[H.programWords] = image.program.length;
  header[H.output] = image.output.address;
  header[H.outputBytes] = image.output.bytes;
  header[H.classRule] = CLASS_RULE[image.classRule];
  header[H.outputWidth] = image.output.width;
  header[H.arenaBytes] = image.arenaBytes;
  header[H.vectors] = vectors.count;
  header[H.vectorInputs] = vecIn;
  header[H.vectorOutputs] = vecOut;
  header[H.inputCount] = image.inputs.length;
  image.inputs.forEach((x, i) => { header[H.inputs + 2 * i] = x.address; header[H.inputs + 2 * i + 1] = x.bytes; });
  // One segment for the constant part: header, weights, tables, program; one for the test vectors.
  const head = new Uint8Array(image.arenaAt - headerAt);
  head.set(new Uint8Array(header.buffer), 0);
  head.set(image.constBytes, image.weightsAt - headerAt);
  head.set(new Uint8Array(image.program.buffer), image.programAt - headerAt);
  const tail = new Uint8Array(end - vecIn);
  tail.set(vectors.inputs, 0);
  tail.set(vectors.outputs, vecOut - vecIn);
  const bytes = editModule(template, {
    pages,
    segments: [{ offset: headerAt, bytes: head }, { offset: vecIn, bytes: tail }],
    custom: [{ name: 'btnn.model', bytes: new TextEncoder().encode(JSON.stringify(description)) }],
  });
  return { bytes, memoryBytes: pages * WASM_PAGE_BYTES, vectorsAt };
}

/** The description a module carries (model.json without the file's own sizes). */
export function moduleDescription(wasm: Uint8Array): Record<string, unknown> | null {
  const s = customSection(wasm, 'btnn.model');
  if (!s) return null;
  try { return JSON.parse(new TextDecoder().decode(s)); } catch { return null; }
}

interface AbiExports {
  memory: WebAssembly.Memory;
  btnn_inputs(): number; btnn_input_at(i: number): number; btnn_input_bytes_at(i: number): number;
  btnn_run(): number; btnn_output(): number; btnn_output_bytes(): number;
  btnn_arena_bytes(): number; btnn_check(): number; btnn_check_count(): number;
}

/** An exported module instantiated in V8, driven through its ABI only. */
export class WasmModel {
  private constructor(readonly exports: AbiExports, readonly inputs: { address: number; bytes: number }[], readonly rule: ClassRule) {}

  static async load(bytes: Uint8Array, rule: ClassRule): Promise<WasmModel> {
    const { instance } = await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>);
    const e = instance.exports as unknown as AbiExports;
    const inputs = Array.from({ length: e.btnn_inputs() }, (_, i) => ({ address: e.btnn_input_at(i), bytes: e.btnn_input_bytes_at(i) }));
    return new WasmModel(e, inputs, rule);
  }

  get rowBytes(): number { return this.inputs.reduce((n, x) => n + x.bytes, 0); }

  /** Runs one row (rowBytes bytes at `at` of `rows`); returns the class and a copy of the output bytes. */
  run(rows: Uint8Array, at: number): { cls: number; output: Uint8Array } {
    const mem = new Uint8Array(this.exports.memory.buffer);
    let p = at;
    for (const x of this.inputs) { mem.set(rows.subarray(p, p + x.bytes), x.address); p += x.bytes; }
    const cls = this.exports.btnn_run();
    const o = this.exports.btnn_output();
    return { cls, output: mem.slice(o, o + this.exports.btnn_output_bytes()) };
  }

  check(): { reproduced: number; count: number } { return { reproduced: this.exports.btnn_check(), count: this.exports.btnn_check_count() }; }
}

export { classOf, rowBytes, type ImageInput };
