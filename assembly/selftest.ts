// Self-test of the real kernels, runnable in any WebAssembly runtime with no imports (wasm3,
// WAMR, wabt's interpreter): `selftest()` returns 0 or the number of the first failed check;
// `selftestChecksum()` returns an FNV-1a hash of every output's bits. All flavours compute the
// same bits (see gemm.ts), so the checksum must agree across flavours and runtimes.
// Scratch memory starts at __heap_base; only run this in an instance that trains nothing.
import { brgemmF32 } from './gemm';
import { tnRun, TN_GEMM, TN_PERMUTE, TN_GATHER, TN_SCATTER } from './tn';
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

/**
 * 2: a tn program (permute, batched GEMM, gather, scatter) differs from the same work done by the
 * kernels directly; 3: gathered-then-scattered rows do not sum as counted.
 */
function checkTn(rng: usize): i32 {
  const h = 3, m = 4, k = 5, n = 6;
  const a = alloc(h * k * m), at = alloc(h * m * k), b = alloc(h * k * n), c = alloc(h * m * n), ref = alloc(h * m * n);
  fill(rng, a, h * k * m); fill(rng, b, h * k * n);
  // Program: at = permute(a [h,k,m] → [h,m,k]); c_h = at_h · b_h for h < 3.
  const prog = alloc(14 + 20);
  const words = memory.data<i32>([TN_PERMUTE, 14, 0, 0, 3, h, m, k, k * m, 1, m, 0, 0, 0,
    TN_GEMM, 20, 0, n, 0, k, 1, m * k, 0, n, k * n, m, n, k, 1, 0, h, m * n, m * k, k * n]);
  memory.copy(prog, words, 34 << 2);
  store<u32>(prog + 8, <u32>at); store<u32>(prog + 12, <u32>a);
  store<u32>(prog + 64, <u32>c); store<u32>(prog + 72, <u32>at); store<u32>(prog + 88, <u32>b);
  tnRun(prog, 34);
  // The same with brgemm directly, A read transposed in place (TN strides): bit-equal.
  for (let t = 0; t < h; t++) {
    brgemmF32(ref + (<usize>(t * m * n) << 2), n, a + (<usize>(t * k * m) << 2), 1, m, 0, b + (<usize>(t * k * n) << 2), n, 0, m, n, k, 1, false);
  }
  for (let i = 0; i < h * m * n; i++) if (load<u32>(c + (<usize>i << 2)) != load<u32>(ref + (<usize>i << 2))) return 2;
  // Gather rows 2, 0, 2 of c (rows of n floats), scatter-add them into a zeroed copy.
  const idx = alloc(3), g = alloc(3 * n), back = alloc(h * m * n);
  store<i32>(idx, 2); store<i32>(idx, 0, 4); store<i32>(idx, 2, 8);
  const p2 = alloc(14);
  memory.copy(p2, memory.data<i32>([TN_GATHER, 7, 0, 0, 0, 3, n, TN_SCATTER, 7, 0, 0, 0, 3, n]), 14 << 2);
  store<u32>(p2 + 8, <u32>g); store<u32>(p2 + 12, <u32>c); store<u32>(p2 + 16, <u32>idx);
  store<u32>(p2 + 36, <u32>back); store<u32>(p2 + 40, <u32>g); store<u32>(p2 + 44, <u32>idx);
  tnRun(p2, 14);
  for (let j = 0; j < n; j++) {
    const row2 = load<f32>(c + (<usize>(2 * n + j) << 2)), row0 = load<f32>(c + (<usize>j << 2));
    if (load<f32>(back + (<usize>(2 * n + j) << 2)) != row2 + row2) return 3;
    if (load<f32>(back + (<usize>j << 2)) != row0) return 3;
  }
  mix(c, h * m * n); mix(back, h * m * n);
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
  if (status == 0) status = checkTn(rng);
  if (status == 0) status = checkOps(rng);
  return status;
}

export function selftest(): i32 { return run(); }

export function selftestChecksum(): i32 { run(); return <i32>hash; }
