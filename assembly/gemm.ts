// Batch-reduce GEMM, the one float matrix kernel every layer lowers to.
//
//   C[m×n] = (accumulate ? C : 0) + Σ_{t<batch} A_t · B_t
//   A_t(i,k) at a + 4·(t·strideA + i·sai + k·sak)   (any strides: NN uses sai=lda,sak=1; TN sai=1,sak=lda)
//   B_t(k,j) at b + 4·(t·strideB + k·ldb + j)        (rows contiguous: vectorised along j)
//   C(i,j)   at c + 4·(i·ldc + j)
//
// Batch-reduce (LIBXSMM's BRGEMM) is what a TT-matrix core step needs: the contraction runs over
// (input mode, left rank), with the mode as the slow axis of the state (see ttm.ts).
//
// Vectorising along j keeps, for every C(i,j), the scalar summation order (t, then k, one
// multiply then one add, no FMA). So the SIMD and scalar paths give the same bits, and all three
// flavours agree exactly; tests check that.
//
// Register blocking: a 4×8 tile (8 f32x4 accumulators) streams B rows and broadcast-loads A;
// 4×4, 1×8, 1×4 tiles take the ragged edges; columns left over after the last 4 are scalar.
// Long reductions run in passes of KC (t·k) so operands stay in cache; the passes accumulate
// into C in the same t-then-k order, so chunking changes no bits.

// Cache blocking. Rows go in blocks of MC, whose A rows (MC×KC floats, 32 KiB) stay in L2 while
// column panels of NC pass over them; a pass reduces over about KC (t·k) steps (balanced chunks of
// whole k may exceed it a little), so its B panel
// (KC×NC floats, 16 KiB) and a tile's A rows (4×KC) stay in L1. C is re-read once per pass,
// cheap next to KC multiply-adds per element.
// @ts-ignore: decorator
@inline const KC: i32 = 128;
// @ts-ignore: decorator
@inline const NC: i32 = 32;
// @ts-ignore: decorator
@inline const MC: i32 = 64;

export function brgemmF32(
  c: usize, ldc: i32,
  a: usize, sai: i32, sak: i32, strideA: i32,
  b: usize, ldb: i32, strideB: i32,
  m: i32, n: i32, k: i32, batch: i32, accumulate: bool,
): void {
  // k = 1 with a batch is a plain GEMM over t: fold it so the inner loop is long.
  if (k == 1 && batch > 1) { sak = strideA; ldb = strideB; k = batch; batch = 1; }
  for (let i0 = 0; i0 < m; i0 += MC) {
    blockRows(c + ((<usize>i0 * ldc) << 2), ldc, a + ((<usize>i0 * sai) << 2), sai, sak, strideA, b, ldb, strideB,
              min(MC, m - i0), n, k, batch, accumulate);
  }
}

/**
 * MC rows of C. The reduction runs in chunks of about KC (t·k) steps, and every column panel
 * passes over a chunk before the next: the chunk's A rows (MC×KC) and B rows (KC×n) are read from
 * memory once and reused from cache by all panels, which matters when k is long and m short
 * (the TTM core gradients: m = rank, k = batch·modes). C(i,j) still sums t, then k, in order.
 */
function blockRows(
  c: usize, ldc: i32,
  a: usize, sai: i32, sak: i32, strideA: i32,
  b: usize, ldb: i32, strideB: i32,
  m: i32, n: i32, k: i32, batch: i32, accumulate: bool,
): void {
  if (k * batch <= KC) {
    panels(c, ldc, a, sai, sak, strideA, b, ldb, strideB, m, n, k, batch, accumulate);
  } else if (k <= KC) {
    // Chunks of whole k over t, balanced (7 steps of 20 → 4 + 3, not 6 + 1) so no pass is mostly overhead.
    const passes = (k * batch + KC - 1) / KC;
    const tc = (batch + passes - 1) / passes;
    for (let t0 = 0; t0 < batch; t0 += tc) {
      panels(c, ldc, a + ((<usize>t0 * strideA) << 2), sai, sak, strideA, b + ((<usize>t0 * strideB) << 2), ldb,
             strideB, m, n, k, min(tc, batch - t0), accumulate || t0 > 0);
    }
  } else {
    const passes = (k + KC - 1) / KC;
    const kc = (k + passes - 1) / passes;
    for (let t = 0; t < batch; t++) {
      for (let k0 = 0; k0 < k; k0 += kc) {
        panels(c, ldc, a + ((<usize>t * strideA + <usize>k0 * sak) << 2), sai, sak, 0,
               b + ((<usize>t * strideB + <usize>k0 * ldb) << 2), ldb, 0, m, n, min(kc, k - k0), 1, accumulate || t > 0 || k0 > 0);
      }
    }
  }
}

/** One reduction chunk over every column panel of NC: the panel's B rows (KC×NC) stay in L1. */
// @ts-ignore: decorator
@inline function panels(
  c: usize, ldc: i32,
  a: usize, sai: i32, sak: i32, strideA: i32,
  b: usize, ldb: i32, strideB: i32,
  m: i32, n: i32, k: i32, batch: i32, accumulate: bool,
): void {
  for (let j0 = 0; j0 < n; j0 += NC) {
    gemmPass(c + (<usize>j0 << 2), ldc, a, sai, sak, strideA, b + (<usize>j0 << 2), ldb, strideB,
             m, min(NC, n - j0), k, batch, accumulate);
  }
}

/** One reduction pass. Row tiles outside, column strips inside: the A tile stays in L1. */
function gemmPass(
  c: usize, ldc: i32,
  a: usize, sai: i32, sak: i32, strideA: i32,
  b: usize, ldb: i32, strideB: i32,
  m: i32, n: i32, k: i32, batch: i32, accumulate: bool,
): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= m; i += 4) {
      let j = 0;
      for (; j + 8 <= n; j += 8) tile4x8(c, ldc, a, sai, sak, strideA, b, ldb, strideB, i, j, k, batch, accumulate);
      if (j + 4 <= n) { tile4x4(c, ldc, a, sai, sak, strideA, b, ldb, strideB, i, j, k, batch, accumulate); j += 4; }
      for (let r = i; r < i + 4; r++) {
        for (let jj = j; jj < n; jj++) cell(c, ldc, a, sai, sak, strideA, b, ldb, strideB, r, jj, k, batch, accumulate);
      }
    }
    for (; i < m; i++) {
      let j = 0;
      for (; j + 8 <= n; j += 8) tile1x8(c, ldc, a, sai, sak, strideA, b, ldb, strideB, i, j, k, batch, accumulate);
      if (j + 4 <= n) { tile1x4(c, ldc, a, sai, sak, strideA, b, ldb, strideB, i, j, k, batch, accumulate); j += 4; }
      for (; j < n; j++) cell(c, ldc, a, sai, sak, strideA, b, ldb, strideB, i, j, k, batch, accumulate);
    }
  }
  // Scalar: the whole kernel on edge-scalar, nothing left on SIMD builds.
  for (; i < m; i++) {
    for (let j = 0; j < n; j++) cell(c, ldc, a, sai, sak, strideA, b, ldb, strideB, i, j, k, batch, accumulate);
  }
}

/** One C element in the reference order: t, then k; one multiply then one add. */
// @ts-ignore: decorator
@inline function cell(
  c: usize, ldc: i32, a: usize, sai: i32, sak: i32, strideA: i32,
  b: usize, ldb: i32, strideB: i32, i: i32, j: i32, k: i32, batch: i32, accumulate: bool,
): void {
  const pc = c + ((<usize>i * ldc + j) << 2);
  let acc: f32 = accumulate ? load<f32>(pc) : 0;
  const da = <usize>sak << 2, db = <usize>ldb << 2;
  for (let t = 0; t < batch; t++) {
    let pa = a + ((<usize>t * strideA + <usize>i * sai) << 2);
    let pb = b + ((<usize>t * strideB + j) << 2);
    for (let kk = 0; kk < k; kk++) {
      acc += load<f32>(pa) * load<f32>(pb);
      pa += da; pb += db;
    }
  }
  store<f32>(pc, acc);
}

// @ts-ignore: decorator
@inline function tile4x8(
  c: usize, ldc: i32, a: usize, sai: i32, sak: i32, strideA: i32,
  b: usize, ldb: i32, strideB: i32, i: i32, j: i32, k: i32, batch: i32, accumulate: bool,
): void {
  const rowC = <usize>ldc << 2;
  const c0 = c + ((<usize>i * ldc + j) << 2), c1 = c0 + rowC, c2 = c1 + rowC, c3 = c2 + rowC;
  let x00 = f32x4.splat(0), x01 = f32x4.splat(0), x10 = f32x4.splat(0), x11 = f32x4.splat(0);
  let x20 = f32x4.splat(0), x21 = f32x4.splat(0), x30 = f32x4.splat(0), x31 = f32x4.splat(0);
  if (accumulate) {
    x00 = v128.load(c0); x01 = v128.load(c0, 16); x10 = v128.load(c1); x11 = v128.load(c1, 16);
    x20 = v128.load(c2); x21 = v128.load(c2, 16); x30 = v128.load(c3); x31 = v128.load(c3, 16);
  }
  const rowA = <usize>sai << 2, da = <usize>sak << 2, db = <usize>ldb << 2;
  for (let t = 0; t < batch; t++) {
    let pa = a + ((<usize>t * strideA + <usize>i * sai) << 2);
    let pb = b + ((<usize>t * strideB + j) << 2);
    for (let kk = 0; kk < k; kk++) {
      const b0 = v128.load(pb), b1 = v128.load(pb, 16);
      let av = v128.load32_splat(pa);
      x00 = f32x4.add(x00, f32x4.mul(av, b0)); x01 = f32x4.add(x01, f32x4.mul(av, b1));
      av = v128.load32_splat(pa + rowA);
      x10 = f32x4.add(x10, f32x4.mul(av, b0)); x11 = f32x4.add(x11, f32x4.mul(av, b1));
      av = v128.load32_splat(pa + 2 * rowA);
      x20 = f32x4.add(x20, f32x4.mul(av, b0)); x21 = f32x4.add(x21, f32x4.mul(av, b1));
      av = v128.load32_splat(pa + 3 * rowA);
      x30 = f32x4.add(x30, f32x4.mul(av, b0)); x31 = f32x4.add(x31, f32x4.mul(av, b1));
      pa += da; pb += db;
    }
  }
  v128.store(c0, x00); v128.store(c0, x01, 16); v128.store(c1, x10); v128.store(c1, x11, 16);
  v128.store(c2, x20); v128.store(c2, x21, 16); v128.store(c3, x30); v128.store(c3, x31, 16);
}

// @ts-ignore: decorator
@inline function tile1x8(
  c: usize, ldc: i32, a: usize, sai: i32, sak: i32, strideA: i32,
  b: usize, ldb: i32, strideB: i32, i: i32, j: i32, k: i32, batch: i32, accumulate: bool,
): void {
  const c0 = c + ((<usize>i * ldc + j) << 2);
  let x00 = f32x4.splat(0), x01 = f32x4.splat(0);
  if (accumulate) { x00 = v128.load(c0); x01 = v128.load(c0, 16); }
  const da = <usize>sak << 2, db = <usize>ldb << 2;
  for (let t = 0; t < batch; t++) {
    let pa = a + ((<usize>t * strideA + <usize>i * sai) << 2);
    let pb = b + ((<usize>t * strideB + j) << 2);
    for (let kk = 0; kk < k; kk++) {
      const av = v128.load32_splat(pa);
      x00 = f32x4.add(x00, f32x4.mul(av, v128.load(pb)));
      x01 = f32x4.add(x01, f32x4.mul(av, v128.load(pb, 16)));
      pa += da; pb += db;
    }
  }
  v128.store(c0, x00); v128.store(c0, x01, 16);
}

// @ts-ignore: decorator
@inline function tile4x4(
  c: usize, ldc: i32, a: usize, sai: i32, sak: i32, strideA: i32,
  b: usize, ldb: i32, strideB: i32, i: i32, j: i32, k: i32, batch: i32, accumulate: bool,
): void {
  const rowC = <usize>ldc << 2;
  const c0 = c + ((<usize>i * ldc + j) << 2), c1 = c0 + rowC, c2 = c1 + rowC, c3 = c2 + rowC;
  let x0 = f32x4.splat(0), x1 = f32x4.splat(0), x2 = f32x4.splat(0), x3 = f32x4.splat(0);
  if (accumulate) { x0 = v128.load(c0); x1 = v128.load(c1); x2 = v128.load(c2); x3 = v128.load(c3); }
  const rowA = <usize>sai << 2, da = <usize>sak << 2, db = <usize>ldb << 2;
  for (let t = 0; t < batch; t++) {
    let pa = a + ((<usize>t * strideA + <usize>i * sai) << 2);
    let pb = b + ((<usize>t * strideB + j) << 2);
    for (let kk = 0; kk < k; kk++) {
      const b0 = v128.load(pb);
      x0 = f32x4.add(x0, f32x4.mul(v128.load32_splat(pa), b0));
      x1 = f32x4.add(x1, f32x4.mul(v128.load32_splat(pa + rowA), b0));
      x2 = f32x4.add(x2, f32x4.mul(v128.load32_splat(pa + 2 * rowA), b0));
      x3 = f32x4.add(x3, f32x4.mul(v128.load32_splat(pa + 3 * rowA), b0));
      pa += da; pb += db;
    }
  }
  v128.store(c0, x0); v128.store(c1, x1); v128.store(c2, x2); v128.store(c3, x3);
}

// @ts-ignore: decorator
@inline function tile1x4(
  c: usize, ldc: i32, a: usize, sai: i32, sak: i32, strideA: i32,
  b: usize, ldb: i32, strideB: i32, i: i32, j: i32, k: i32, batch: i32, accumulate: bool,
): void {
  const c0 = c + ((<usize>i * ldc + j) << 2);
  let x0 = accumulate ? v128.load(c0) : f32x4.splat(0);
  const da = <usize>sak << 2, db = <usize>ldb << 2;
  for (let t = 0; t < batch; t++) {
    let pa = a + ((<usize>t * strideA + <usize>i * sai) << 2);
    let pb = b + ((<usize>t * strideB + j) << 2);
    for (let kk = 0; kk < k; kk++) {
      x0 = f32x4.add(x0, f32x4.mul(v128.load32_splat(pa), v128.load(pb)));
      pa += da; pb += db;
    }
  }
  v128.store(c0, x0);
}

/**
 * dst[cols×rows] = srcᵀ, where src is [rows×cols] with row stride `lds` (≥ cols) and dst is
 * dense. Blocked 16×16 so both sides stay in cache.
 */
export function transposeF32(dst: usize, src: usize, rows: i32, cols: i32, lds: i32): void {
  const BLK = 16;
  for (let i0 = 0; i0 < rows; i0 += BLK) {
    const i1 = min(i0 + BLK, rows);
    for (let j0 = 0; j0 < cols; j0 += BLK) {
      const j1 = min(j0 + BLK, cols);
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) {
          store<f32>(dst + ((<usize>j * rows + i) << 2), load<f32>(src + ((<usize>i * lds + j) << 2)));
        }
      }
    }
  }
}

/**
 * Throughput probe for benchmarks: 10 independent accumulators `acc += y·u` in registers (80 flops
 * per iteration), the operation mix of the GEMM tile without its loads. `y` moves every
 * iteration so the multiplies cannot be hoisted; accumulators break the add latency chain.
 */
export function peakF32x4(iters: i32, seed: f32): f32 {
  if (ASC_FEATURE_SIMD) {
    let x0 = f32x4.splat(0), x1 = f32x4.splat(0), x2 = f32x4.splat(0), x3 = f32x4.splat(0), x4 = f32x4.splat(0);
    let x5 = f32x4.splat(0), x6 = f32x4.splat(0), x7 = f32x4.splat(0), x8 = f32x4.splat(0), x9 = f32x4.splat(0);
    const u = f32x4.splat(seed), w = f32x4.splat(seed * 0.5), eps = f32x4.splat(1e-7);
    let y = f32x4.splat(1);
    for (let it = 0; it < iters; it++) {
      y = f32x4.add(y, eps);
      x0 = f32x4.add(x0, f32x4.mul(y, u)); x1 = f32x4.add(x1, f32x4.mul(y, w));
      x2 = f32x4.add(x2, f32x4.mul(y, u)); x3 = f32x4.add(x3, f32x4.mul(y, w));
      x4 = f32x4.add(x4, f32x4.mul(y, u)); x5 = f32x4.add(x5, f32x4.mul(y, w));
      x6 = f32x4.add(x6, f32x4.mul(y, u)); x7 = f32x4.add(x7, f32x4.mul(y, w));
      x8 = f32x4.add(x8, f32x4.mul(y, u)); x9 = f32x4.add(x9, f32x4.mul(y, w));
    }
    let s = f32x4.add(f32x4.add(f32x4.add(x0, x1), f32x4.add(x2, x3)), f32x4.add(f32x4.add(x4, x5), f32x4.add(x6, x7)));
    s = f32x4.add(s, f32x4.add(x8, x9));
    return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 3);
  }
  let y: f32 = seed;
  for (let it = 0; it < iters; it++) y = y * 0.999 + seed;
  return y;
}

/** Flops one peakF32x4 iteration performs (80 with SIMD; the scalar branch is one chain of 2). */
export const PEAK_FLOPS_PER_ITER: i32 = ASC_FEATURE_SIMD ? 80 : 2;
