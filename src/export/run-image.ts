// A model image run by btnn's own core (node flavour by default): the constants and program copied
// into the core's memory at the image's addresses, one row per tnRun. This is the reference an
// exported module must reproduce (integer images: `btnn eval --bits`), and the engine of eval --bits.
import type { Core } from '../core/wasm.js';
import type { ModelImage } from '../image/image.js';

const WASM_PAGE_BYTES = 65536;

export class ImageRunner {
  constructor(readonly core: Core, readonly image: ModelImage) {
    if (image.base < core.exports.heapBase()) throw new Error(`image based at ${image.base}, below the core's heap base ${core.exports.heapBase()}`);
    const mem = core.memory;
    const pages = Math.ceil(image.endBytes / WASM_PAGE_BYTES) - mem.buffer.byteLength / WASM_PAGE_BYTES;
    if (pages > 0) mem.grow(pages);
    const u8 = new Uint8Array(mem.buffer);
    u8.fill(0, image.base, image.endBytes);
    u8.set(image.constBytes, image.weightsAt);
    u8.set(new Uint8Array(image.program.buffer, image.program.byteOffset, image.program.byteLength), image.programAt);
  }

  /** Runs the row at `at` of `rows` (the inputs' bytes, concatenated); returns a view of the output bytes. */
  run(rows: Uint8Array, at: number): Uint8Array {
    const u8 = new Uint8Array(this.core.memory.buffer);
    let p = at;
    for (const x of this.image.inputs) { u8.set(rows.subarray(p, p + x.bytes), x.address); p += x.bytes; }
    this.core.exports.tnRun(this.image.programAt, this.image.program.length);
    return u8.subarray(this.image.output.address, this.image.output.address + this.image.output.bytes);
  }

  /** The scores of the last run, as numbers (f32, or int32 integers). */
  scores(): Float32Array | Int32Array {
    const o = this.image.output;
    return o.dtype === 'f32' ? new Float32Array(this.core.memory.buffer, o.address, o.width) : new Int32Array(this.core.memory.buffer, o.address, o.width);
  }
}
