// Calibration: the f32 inference program run in f64 in JS, every buffer its own array (no memory
// sharing), recording the largest |value| each op writes. Post-training quantisation picks every
// activation's scale from these maxima over N training rows. f64 instead of f32 changes a maximum
// by far less than one quantisation step.
import type { Op, Ref } from '../tn/compile.js';
import { product } from '../util/math.js';

export interface CalibrationBuffers {
  /** Initial contents by buffer key (weights, tables); others start at zero. */
  get(key: string): Float64Array | undefined;
  /** Floats of each buffer key the program uses. */
  floats(key: string): number;
}

/** Elements an op's destination spans from its ref (gemm: h problems of m rows of ldc). */
export function destExtent(op: Op): { ref: Ref; len: number } | null {
  switch (op.op) {
    case 'gemm': return { ref: op.c, len: (op.h - 1) * op.hc + (op.m - 1) * op.ldc + op.n };
    case 'permute': return { ref: op.dst, len: product(op.dims) };
    case 'bias': return { ref: op.y, len: op.rows * op.cols };
    case 'act': return { ref: op.y, len: op.n };
    case 'lut': return { ref: op.dst, len: op.n };
    case 'affine': return { ref: op.dst, len: op.rows * op.cols };
    default: return null;
  }
}

export class Calibrator {
  /** Per op index: the largest |value| it wrote, over every row run so far. */
  readonly maxAbs: Float64Array;
  private readonly mem = new Map<string, Float64Array>();

  constructor(readonly ops: Op[], private readonly init: CalibrationBuffers) {
    this.maxAbs = new Float64Array(ops.length);
  }

  buffer(key: string): Float64Array {
    let b = this.mem.get(key);
    if (!b) {
      b = new Float64Array(this.init.floats(key));
      const src = this.init.get(key);
      if (src) b.set(src);
      this.mem.set(key, b);
    }
    return b;
  }

  /** Runs the program once on the input values written into the input buffers by `write`. */
  run(write: (buffer: (key: string) => Float64Array) => void): void {
    write((k) => this.buffer(k));
    this.ops.forEach((op, i) => {
      this.exec(op);
      const d = destExtent(op);
      if (!d) return;
      const b = this.buffer(d.ref.buf);
      let mx = this.maxAbs[i];
      for (let j = d.ref.off; j < d.ref.off + d.len; j++) { const v = Math.abs(b[j]); if (v > mx) mx = v; }
      this.maxAbs[i] = mx;
    });
  }

  private exec(op: Op): void {
    const B = (r: Ref): [Float64Array, number] => [this.buffer(r.buf), r.off];
    switch (op.op) {
      case 'gemm': {
        const [c, c0] = B(op.c), [a, a0] = B(op.a), [b, b0] = B(op.b);
        for (let x = 0; x < op.h; x++) {
          for (let i = 0; i < op.m; i++) {
            for (let j = 0; j < op.n; j++) {
              const ci = c0 + x * op.hc + i * op.ldc + j;
              let s = op.acc ? c[ci] : 0;
              for (let t = 0; t < op.t; t++) {
                for (let k = 0; k < op.k; k++) s += a[a0 + x * op.ha + t * op.strideA + i * op.sai + k * op.sak] * b[b0 + x * op.hb + t * op.strideB + k * op.ldb + j];
              }
              c[ci] = s;
            }
          }
        }
        return;
      }
      case 'permute': {
        const [d, d0] = B(op.dst), [s, s0] = B(op.src);
        const r = op.dims.length, idx = new Array<number>(r).fill(0), n = product(op.dims);
        for (let o = 0; o < n; o++) {
          let at = s0;
          for (let j = 0; j < r; j++) at += idx[j] * op.strides[j];
          d[d0 + o] = s[at];
          for (let j = r - 1; j >= 0; j--) { if (++idx[j] < op.dims[j]) break; idx[j] = 0; }
        }
        return;
      }
      case 'bias': {
        const [y, y0] = B(op.y), [b, b0] = B(op.bias);
        for (let r = 0; r < op.rows; r++) for (let j = 0; j < op.cols; j++) y[y0 + r * op.cols + j] += b[b0 + j];
        return;
      }
      case 'act': {
        if (op.fn !== 'relu') throw new Error(`calibrate: ${op.fn}`);
        const [y, y0] = B(op.y), [x, x0] = B(op.x);
        for (let i = 0; i < op.n; i++) y[y0 + i] = Math.max(0, x[x0 + i]);
        return;
      }
      case 'lut': {
        const [d, d0] = B(op.dst), [s, s0] = B(op.src), [t, t0] = B(op.table);
        for (let i = 0; i < op.n; i++) d[d0 + i] = t[t0 + s[s0 + i]];
        return;
      }
      case 'affine': {
        const [d, d0] = B(op.dst), [s, s0] = B(op.src), [m, m0] = B(op.mean), [v, v0] = B(op.invStd);
        for (let r = 0; r < op.rows; r++) for (let j = 0; j < op.cols; j++) d[d0 + r * op.cols + j] = (s[s0 + r * op.cols + j] - m[m0 + j]) * v[v0 + j];
        return;
      }
      default: throw new Error(`calibrate: op ${op.op}`);
    }
  }
}
