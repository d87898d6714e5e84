// Row-sparse training of dense embedding tables (PyTorch's SparseAdam, TF's LazyAdam): a step of a
// `rows × m` table reads and writes only the rows its batch looked up, so a 10⁶-row table costs the
// batch's rows per step, not the table's 4·rows·m bytes of gradient, m, v and params four times over.
//
// The lanes' backward programs scatter-add into the table's gradient without zeroing it
// (src/tn/embedding.ts rowSparse); the invariant that makes that right is kept here: outside a
// step, every lane's gradient of the table is zero. Per step, after the lanes' programs:
//   reduce  lane 0's gradient += lane l's, at lane l's rows, l = 1.. in order (the bits of the
//           dense reduce at those rows)
//   adam    adamF32 at the union of the lanes' rows, with the step's global step count
//   clear   before the next batch is loaded, the rows zeroed again in every lane's gradient
//           (whether or not Adam ran; until then the gradient reads as the dense one would)
// Rows the batch did not touch keep their parameters and Adam moments: the lazy-Adam semantics.
// A touched row's bits equal a dense Adam step's over the same gradient.
import type { Core } from '../core/wasm.js';
import type { EmbeddingIndex } from '../layers/embedding.js';
import type { PreparedIndices } from '../tn/embedding.js';
import { gradsBuffer, type TensorSlot } from '../prepare/prepare.js';

const F32 = 4, I32 = 4;

interface Table {
  slot: TensorSlot;
  rowFloats: number;
  maxBatch: number;
  /** Byte address of the touched-rows buffer. */
  touched: number;
  /** Distinct rows per lane this step. */
  laneCounts: number[];
  unionCount: number;
}

export class SparseRows {
  private readonly tables = new Map<string, Table>();

  constructor(private readonly core: Core, private readonly lanes: number, embeddings: EmbeddingIndex[][],
              slot: (tensor: string) => TensorSlot, private readonly addr: (buffer: string) => number) {
    for (const lane of embeddings) {
      for (const e of lane) {
        if (!e.plan.rowSparse || !e.touched || this.tables.has(e.plan.rowSparse)) continue;
        this.tables.set(e.plan.rowSparse, {
          slot: slot(e.plan.rowSparse), rowFloats: e.plan.rowFloats, maxBatch: e.plan.maxBatch,
          touched: addr(e.touched), laneCounts: new Array<number>(lanes).fill(0), unionCount: 0,
        });
      }
    }
  }

  get any(): boolean { return this.tables.size > 0; }
  /** Tensors trained row-sparse. */
  has(tensor: string): boolean { return this.tables.has(tensor); }

  private rows(t: Table, at: number, count: number): Int32Array {
    return new Int32Array(this.core.memory.buffer, t.touched + at * I32, count);
  }

  /** Lane `lane`'s lookup of a row-sparse table: its distinct rows (the lookup's unique ids, rows = ids for one factor). */
  record(e: EmbeddingIndex, lane: number, idx: PreparedIndices): void {
    if (!e.plan.rowSparse) return;
    const t = this.tables.get(e.plan.rowSparse)!;
    const n = idx.unique.length;
    this.rows(t, lane * t.maxBatch, n).set(idx.rows[0].subarray(0, n));
    t.laneCounts[lane] = n;
  }

  /** After every lane is recorded: the union of their rows, lane order, first occurrence. */
  unite(): void {
    for (const t of this.tables.values()) {
      const union = this.rows(t, this.lanes * t.maxBatch, this.lanes * t.maxBatch);
      const seen = new Set<number>();
      let n = 0;
      for (let l = 0; l < this.lanes; l++) {
        for (const r of this.rows(t, l * t.maxBatch, t.laneCounts[l])) if (!seen.has(r)) { seen.add(r); union[n++] = r; }
      }
      t.unionCount = n;
    }
  }

  private at(buffer: string, t: Table): number { return this.addr(buffer) + t.slot.offsetFloats * F32; }
  /** Row 0 of the table in `buffer`. */
  private f32At(buffer: string, t: Table): Float32Array { return new Float32Array(this.core.memory.buffer, this.at(buffer, t), t.rowFloats); }

  /** Lanes 1.. into lane 0's gradient at their rows. */
  reduce(): void {
    const e = this.core.exports;
    for (const t of this.tables.values()) {
      for (let l = 1; l < this.lanes; l++) {
        e.addRowsF32(this.at('grads', t), this.at(gradsBuffer(l), t), t.touched + l * t.maxBatch * I32, t.laneCounts[l], t.rowFloats);
      }
    }
  }

  /** Adam at the touched rows, lr·lrScale as for a dense tensor. */
  adam(lr: number, beta1: number, beta2: number, eps: number, step: number): void {
    const e = this.core.exports;
    for (const t of this.tables.values()) {
      e.adamRowsF32(this.at('params', t), this.at('grads', t), this.at('adam.m', t), this.at('adam.v', t),
        t.touched + this.lanes * t.maxBatch * I32, t.unionCount, t.rowFloats, lr * t.slot.lrScale, beta1, beta2, eps, step);
    }
  }

  /** Zeroes the step's rows in every lane's gradient (the invariant the backward programs rely on). */
  clear(): void {
    const e = this.core.exports;
    for (const t of this.tables.values()) {
      // Lane 0's gradient holds the sum at the union of the rows; lane l's only its own rows.
      e.copyRowsF32(this.at('grads', t), 0, t.touched + this.lanes * t.maxBatch * I32, t.unionCount, t.rowFloats);
      for (let l = 1; l < this.lanes; l++) {
        e.copyRowsF32(this.at(gradsBuffer(l), t), 0, t.touched + l * t.maxBatch * I32, t.laneCounts[l], t.rowFloats);
      }
      // Row 0 too, in every lane: a lane with no rows this step still scattered its padding (zeros,
      // or NaN after a diverged step) into row 0, which no list names.
      for (let l = 0; l < this.lanes; l++) this.f32At(gradsBuffer(l), t).fill(0);
      t.laneCounts.fill(0);
      t.unionCount = 0;
    }
  }
}
