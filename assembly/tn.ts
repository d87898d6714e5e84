// Tensor-network programs: the host (src/tn/) lowers every format's contraction path — forward,
// backward, reconstruction, embedding gathers — to a flat list of ops over addresses, and this
// interpreter runs it. One program per (layer, lane, phase) is linked once at plan time, so a
// training step is a handful of calls whatever the format.
//
// Program words (i32; addresses are byte offsets read as u32, lengths and strides in floats):
//   GEMM     [1, 20, c, ldc, a, sai, sak, strideA, b, ldb, strideB, m, n, k, t, acc, h, hc, ha, hb]
//            for i < h: brgemmF32 over (c + i·hc, a + i·ha, b + i·hb)  — a batched batch-reduce GEMM
//   PERMUTE  [2, 5 + 3·rank, dst, src, rank, dims[rank], srcStrides[rank], odometer[rank]]
//            dst is dense row-major over dims; element (i_0..) comes from src + Σ i_j·srcStrides[j].
//            The odometer words are the op's own scratch: a program is run by one thread at a time
//            (one per lane), while static data would be shared by every thread's instance.
//   ZERO     [3, 4, dst, n]
//   GATHER   [4, 7, dst, src, idx, count, rowFloats]        dst row i = src row idx[i]
//   SCATTER  [5, 7, dst, src, idx, count, rowFloats]        dst row idx[i] += src row i, i ascending
//   ADD      [6, 5, dst, src, n]                            dst += src
// Word 1 of every op is its length, so the interpreter can skip and the host can check.
import { brgemmF32 } from './gemm';
import { addF32 } from './ops';

export const TN_GEMM: i32 = 1;
export const TN_PERMUTE: i32 = 2;
export const TN_ZERO: i32 = 3;
export const TN_GATHER: i32 = 4;
export const TN_SCATTER: i32 = 5;
export const TN_ADD: i32 = 6;

/** Multiply-adds ×2 executed by GEMM ops since the last tnResetFlops: the instrumented count. */
let flopCount: f64 = 0;

export function tnFlops(): f64 { return flopCount; }
export function tnResetFlops(): void { flopCount = 0; }

// @ts-ignore: decorator
@inline function word(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function addr(p: usize, i: i32): usize { return <usize>load<u32>(p + (<usize>i << 2)); }

/** Runs `words` i32s of program at `prog`. */
export function tnRun(prog: usize, words: i32): void {
  let p = prog;
  const end = prog + (<usize>words << 2);
  while (p < end) {
    const op = word(p, 0);
    if (op == TN_GEMM) gemm(p);
    else if (op == TN_PERMUTE) permute(addr(p, 2), addr(p, 3), word(p, 4), p + 20);
    else if (op == TN_ZERO) memory.fill(addr(p, 2), 0, <usize>word(p, 3) << 2);
    else if (op == TN_GATHER) gather(addr(p, 2), addr(p, 3), addr(p, 4), word(p, 5), word(p, 6));
    else if (op == TN_SCATTER) scatterAdd(addr(p, 2), addr(p, 3), addr(p, 4), word(p, 5), word(p, 6));
    else if (op == TN_ADD) addF32(addr(p, 2), addr(p, 3), word(p, 4));
    else unreachable();
    p += <usize>word(p, 1) << 2;
  }
}

function gemm(p: usize): void {
  const c = addr(p, 2), ldc = word(p, 3);
  const a = addr(p, 4), sai = word(p, 5), sak = word(p, 6), strideA = word(p, 7);
  const b = addr(p, 8), ldb = word(p, 9), strideB = word(p, 10);
  const m = word(p, 11), n = word(p, 12), k = word(p, 13), t = word(p, 14);
  const acc = word(p, 15) != 0;
  const h = word(p, 16);
  const hc = <usize>word(p, 17) << 2, ha = <usize>word(p, 18) << 2, hb = <usize>word(p, 19) << 2;
  for (let i = 0; i < h; i++) {
    brgemmF32(c + <usize>i * hc, ldc, a + <usize>i * ha, sai, sak, strideA, b + <usize>i * hb, ldb, strideB, m, n, k, t, acc);
  }
  flopCount += 2.0 * <f64>m * <f64>n * <f64>k * <f64>t * <f64>h;
}

/** Odometer over the outer axes; the innermost axis is a block copy when its source is contiguous. */
function permute(dst: usize, src: usize, rank: i32, desc: usize): void {
  const dims = desc, strides = desc + (<usize>rank << 2);
  const last = rank - 1;
  const inner = load<i32>(dims + (<usize>last << 2));
  const innerStride = load<i32>(strides + (<usize>last << 2));
  let outer = 1;
  for (let j = 0; j < last; j++) outer *= load<i32>(dims + (<usize>j << 2));
  const idx = strides + (<usize>rank << 2);
  memory.fill(idx, 0, <usize>rank << 2);
  let s: usize = src, d: usize = dst;
  for (let o = 0; o < outer; o++) {
    if (innerStride == 1) {
      memory.copy(d, s, <usize>inner << 2);
    } else {
      const st = <usize>innerStride << 2;
      let q = s;
      for (let i = 0; i < inner; i++) { store<f32>(d + (<usize>i << 2), load<f32>(q)); q += st; }
    }
    d += <usize>inner << 2;
    // Advance the odometer over axes last-1 .. 0.
    for (let j = last - 1; j >= 0; j--) {
      const ip = idx + (<usize>j << 2);
      const v = load<i32>(ip) + 1;
      const sj = <usize>load<i32>(strides + (<usize>j << 2)) << 2;
      if (v < load<i32>(dims + (<usize>j << 2))) { store<i32>(ip, v); s += sj; break; }
      store<i32>(ip, 0);
      s -= <usize>(v - 1) * sj;
    }
  }
}

function gather(dst: usize, src: usize, idx: usize, count: i32, rowFloats: i32): void {
  const rowBytes = <usize>rowFloats << 2;
  for (let i = 0; i < count; i++) {
    memory.copy(dst + <usize>i * rowBytes, src + <usize>load<i32>(idx + (<usize>i << 2)) * rowBytes, rowBytes);
  }
}

function scatterAdd(dst: usize, src: usize, idx: usize, count: i32, rowFloats: i32): void {
  const rowBytes = <usize>rowFloats << 2;
  for (let i = 0; i < count; i++) {
    addF32(dst + <usize>load<i32>(idx + (<usize>i << 2)) * rowBytes, src + <usize>i * rowBytes, rowFloats);
  }
}
