// One data row as the bytes an exported module reads at its input addresses: every input's row in
// its dtype (u8 bytes, f32 or i32 little-endian), inputs concatenated in spec order.
import type { DataSource, RowSource } from '../runtime/runtime.js';
import type { ImageInput } from '../image/image.js';

export function rowValues(src: RowSource, start: number, end: number): ArrayLike<number> {
  return typeof (src as { subarray?: unknown }).subarray === 'function'
    ? (src as { subarray(a: number, b: number): ArrayLike<number> }).subarray(start, end)
    : Array.from({ length: end - start }, (_, i) => (src as ArrayLike<number>)[start + i]);
}

export const rowBytes = (inputs: ImageInput[]): number => inputs.reduce((n, x) => n + x.bytes, 0);

/** Writes row r of `source` into `out` at byte `at` (rowBytes(inputs) bytes). */
export function writeRow(out: Uint8Array, at: number, inputs: ImageInput[], source: DataSource, r: number): void {
  let p = at;
  for (const x of inputs) {
    const values = rowValues(source.inputs[x.name], r * x.width, (r + 1) * x.width);
    const dst = x.dtype === 'u8' ? new Uint8Array(out.buffer, out.byteOffset + p, x.width)
      : x.dtype === 'i32' ? new Int32Array(x.width) : new Float32Array(x.width);
    dst.set(values);
    if (x.dtype !== 'u8') out.set(new Uint8Array(dst.buffer), p);
    p += x.bytes;
  }
}
