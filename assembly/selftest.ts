// Self-test of the real kernels, runnable in any WebAssembly runtime with no imports (wasm3,
// WAMR, wabt's interpreter): `selftest()` returns 0 or the number of the first failed check;
// `selftestChecksum()` returns an FNV-1a hash of every output's bits. All flavours compute the
// same bits (see gemm.ts), so the checksum must agree across flavours and runtimes.
// Scratch memory starts at __heap_base; only run this in an instance that trains nothing.
import { brgemmF32 } from './gemm';
import { ttmForwardF32, ttmBackwardF32 } from './ttm';
import { denseForwardF32, denseBackwardF32 } from './dense';
import { adamF32, softmaxXentF32, reluF32, reluBackwardF32, biasGradF32, addF32 } from './ops';
import { rngSeed, rngTruncNormalF32 } from './rng';

let hash: u32 = 0;
let cursor: usize = 0;

function alloc(floats: i32): usize {
  const p = cursor;
  cursor += ((<usize>floats << 2) + 15) & ~(<usize>15);
  const pages = <i32>((cursor + 0xffff) >>> 16);
  if (pages > memory.size()) memory.grow(pages - memory.size());
  memory.fill(p, 0, <usize>floats << 2);
  return p;
}

function mix(p: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const bits = load<u32>(p + (<usize>i << 2));
    for (let s = 0; s < 32; s += 8) hash = (hash ^ ((bits >>> s) & 0xff)) * 16777619;
  }
}

function fill(rng: usize, p: usize, n: i32): void { rngTruncNormalF32(rng, p, n, 1, 3); }

function close(x: f64, ref: f64, tol: f64): bool { return Math.abs(x - ref) <= tol * (1 + Math.abs(ref)); }

/** 1: brgemm NN/TN/batch/accumulate differ from the naive loop (must be bit-equal). */
function checkGemm(rng: usize): i32 {
  const m = 7, n = 13, k = 5, t = 3;
  const a = alloc(t * m * k), b = alloc(t * k * n), c = alloc(m * n), ref = alloc(m * n);
  fill(rng, a, t * m * k); fill(rng, b, t * k * n); fill(rng, c, m * n);
  memory.copy(ref, c, <usize>(m * n) << 2);
  // TN layout for A (A_t stored [k × m]), accumulate into C.
  brgemmF32(c, n, a, 1, m, m * k, b, n, k * n, m, n, k, t, true);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let acc = load<f32>(ref + ((<usize>(i * n + j)) << 2));
    for (let tt = 0; tt < t; tt++) for (let kk = 0; kk < k; kk++) {
      acc += load<f32>(a + ((<usize>(tt * m * k + kk * m + i)) << 2)) * load<f32>(b + ((<usize>(tt * k * n + kk * n + j)) << 2));
    }
    if (reinterpret<u32>(acc) != load<u32>(c + ((<usize>(i * n + j)) << 2))) return 1;
  }
  mix(c, m * n);
  return 0;
}

// Small TTM: a = [2,3,2] → b = [3,2,2], ranks [1,3,2,1], batch 5.
const D = 3, BATCH = 5, NIN = 12, NOUT = 12;

function writeDesc(desc: usize): i32 {
  memory.copy(desc, memory.data<i32>([3, 2, 3, 2, 3, 2, 2, 1, 3, 2, 1]), 11 << 2);
  return 20 + 36 + 8; // factor floats: cores of 18, 36, 8 floats, each rounded up to 4
}

/** Dense W [NIN × NOUT] from the cores, by the definition (f32 chain products). */
function reconstruct(w: usize, g: usize): void {
  const a0 = 2, a1 = 3, a2 = 2, b0 = 3, b1 = 2, b2 = 2, r1 = 3, r2 = 2;
  const g1 = g + (20 << 2), g2 = g1 + (36 << 2); // 16-byte aligned core starts
  for (let i0 = 0; i0 < a0; i0++) for (let i1 = 0; i1 < a1; i1++) for (let i2 = 0; i2 < a2; i2++)
  for (let j0 = 0; j0 < b0; j0++) for (let j1 = 0; j1 < b1; j1++) for (let j2 = 0; j2 < b2; j2++) {
    let s: f64 = 0;
    for (let p = 0; p < r1; p++) for (let q = 0; q < r2; q++) {
      const x = <f64>load<f32>(g + ((<usize>((i0 * b0 + j0) * r1 + p)) << 2));
      const y = <f64>load<f32>(g1 + ((<usize>(((p * a1 + i1) * b1 + j1) * r2 + q)) << 2));
      const z = <f64>load<f32>(g2 + ((<usize>((q * a2 + i2) * b2 + j2)) << 2));
      s += x * y * z;
    }
    const row = (i0 * a1 + i1) * a2 + i2, col = (j0 * b1 + j1) * b2 + j2;
    store<f32>(w + ((<usize>(row * NOUT + col)) << 2), <f32>s);
  }
}

/** 2: TTM forward ≠ x·W(reconstructed); 3: dx ≠ dy·Wᵀ; 4: Σ dG_k ⊙ G_k ≠ Σ dy ⊙ y (linearity). */
function checkTtm(rng: usize): i32 {
  const desc = alloc(12);
  const nf = writeDesc(desc);
  const g = alloc(nf), dg = alloc(nf), x = alloc(BATCH * NIN), y = alloc(BATCH * NOUT), dy = alloc(BATCH * NOUT);
  const states = alloc(1024), ws = alloc(1024), dx = alloc(BATCH * NIN);
  const w = alloc(NIN * NOUT), yRef = alloc(BATCH * NOUT), dxRef = alloc(BATCH * NIN), dw = alloc(NIN * NOUT), wt = alloc(NIN * NOUT);
  fill(rng, g, nf); fill(rng, x, BATCH * NIN); fill(rng, dy, BATCH * NOUT);
  ttmForwardF32(y, x, g, desc, states, BATCH);
  ttmBackwardF32(dx, dg, dy, g, desc, states, ws, BATCH);
  reconstruct(w, g);
  denseForwardF32(yRef, x, w, 0, BATCH, NIN, NOUT);
  denseBackwardF32(dxRef, dw, 0, dy, x, w, wt, BATCH, NIN, NOUT);
  for (let i = 0; i < BATCH * NOUT; i++) {
    if (!close(load<f32>(y + (<usize>i << 2)), load<f32>(yRef + (<usize>i << 2)), 1e-5)) return 2;
  }
  for (let i = 0; i < BATCH * NIN; i++) {
    if (!close(load<f32>(dx + (<usize>i << 2)), load<f32>(dxRef + (<usize>i << 2)), 1e-5)) return 3;
  }
  let yDot: f64 = 0;
  for (let i = 0; i < BATCH * NOUT; i++) yDot += <f64>load<f32>(y + (<usize>i << 2)) * load<f32>(dy + (<usize>i << 2));
  const sizes = memory.data<i32>([18, 36, 8]);
  const starts = memory.data<i32>([0, 20, 56]);
  for (let k = 0; k < D; k++) {
    const off = load<i32>(starts + (<usize>k << 2));
    const size = load<i32>(sizes + (<usize>k << 2));
    let s: f64 = 0;
    for (let e = off; e < off + size; e++) s += <f64>load<f32>(g + (<usize>e << 2)) * load<f32>(dg + (<usize>e << 2));
    if (!close(s, yDot, 1e-4)) return 4;
  }
  mix(y, BATCH * NOUT); mix(dx, BATCH * NIN); mix(dg, nf); mix(dw, NIN * NOUT);
  return 0;
}

/** 5: uniform logits give loss ln(C) and gradients (1/C − onehot)/rows; 6: Adam's first step is −lr·sign(g). */
function checkOps(rng: usize): i32 {
  const rows = 3, cols = 10;
  const logits = alloc(rows * cols), labels = alloc(1), correct = alloc(1);
  store<u8>(labels, 4); store<u8>(labels, 0, 1); store<u8>(labels, 9, 2);
  const loss = softmaxXentF32(logits, logits, labels, rows, cols, correct, 1.0 / 3);
  if (!close(loss, 3 * Math.log(10), 1e-6)) return 5;
  if (!close(load<f32>(logits + 16), (0.1 - 1) / 3, 1e-6)) return 5;
  const n = 37;
  const p = alloc(n), gr = alloc(n), m = alloc(n), v = alloc(n), p0 = alloc(n);
  fill(rng, p, n); fill(rng, gr, n);
  memory.copy(p0, p, <usize>n << 2);
  adamF32(p, gr, m, v, n, 0.01, 0.9, 0.999, 1e-8, 1);
  for (let i = 0; i < n; i++) {
    const gi = load<f32>(gr + (<usize>i << 2));
    const expect = <f64>load<f32>(p0 + (<usize>i << 2)) - 0.01 * (gi > 0 ? 1.0 : -1.0);
    if (!close(load<f32>(p + (<usize>i << 2)), expect, 1e-5)) return 6;
  }
  const h = alloc(n), dh = alloc(n), db = alloc(n);
  fill(rng, h, n); fill(rng, dh, n);
  reluF32(h, n); reluBackwardF32(dh, h, n); biasGradF32(db, dh, 1, n); addF32(db, h, n);
  mix(p, n); mix(m, n); mix(v, n); mix(h, n); mix(dh, n); mix(db, n);
  return 0;
}

function run(): i32 {
  hash = 2166136261;
  cursor = (__heap_base + 15) & ~(<usize>15);
  const rng = alloc(4);
  rngSeed(rng, 42, 7);
  let status = checkGemm(rng);
  if (status == 0) status = checkTtm(rng);
  if (status == 0) status = checkOps(rng);
  return status;
}

export function selftest(): i32 { return run(); }

export function selftestChecksum(): i32 { run(); return <i32>hash; }
