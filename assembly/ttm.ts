// Tensor-train-matrix (TTM) linear layer, y = x·W with W [N_in × N_out] never formed.
//
// Cores G_k [r_k × a_k × b_k × r_{k+1}] (r_0 = r_d = 1), a = input modes, b = output modes,
// W[(i_0..i_{d-1}), (j_0..j_{d-1})] = Π_k G_k[:, i_k, j_k, :], indices row-major.
//
// The descriptor `desc` is i32s in memory: [d, a_0..a_{d-1}, b_0..b_{d-1}, r_0..r_d].
//
// State layout. Step k reads Z_k = [i_k, i_{k+1}..i_{d-1}, β, j_0..j_{k-1}, r_k] and writes
// Z_{k+1} = [i_{k+1}..i_{d-1}, β, j_0..j_k, r_{k+1}]: the consumed input mode is the slowest axis
// and the new (output mode, rank) pair the fastest, so the next state is already in place and no
// permutation is needed between steps. With R_k = B·Π_{l>k} a_l·Π_{l<k} b_l,
//   Z_{k+1}[R_k × b_k r_{k+1}] = Σ_{i<a_k} Z_k[i] [R_k × r_k] · G_k[:, i, :, :] [r_k × b_k r_{k+1}]
// which is one batch-reduce GEMM. Z_0 = xᵀ and Z_d = y (batch-major) fall out of the layout.
// Flops per sample of step k: 2·Π_{l>k} a_l·Π_{l<k} b_l · a_k r_k · b_k r_{k+1}.
//
// `factors` holds the cores back to back, each rounded up to 4 floats (16-byte aligned starts);
// `states` holds Z_0..Z_{d-1} the same way; backward needs them.
import { brgemmF32, transposeF32 } from './gemm';

// @ts-ignore: decorator
@inline function dimA(desc: usize, k: i32): i32 { return load<i32>(desc + ((<usize>(1 + k)) << 2)); }
// @ts-ignore: decorator
@inline function dimB(desc: usize, d: i32, k: i32): i32 { return load<i32>(desc + ((<usize>(1 + d + k)) << 2)); }
// @ts-ignore: decorator
@inline function rank(desc: usize, d: i32, k: i32): i32 { return load<i32>(desc + ((<usize>(1 + 2 * d + k)) << 2)); }
// @ts-ignore: decorator
@inline function roundUp4(n: usize): usize { return (n + 3) & ~(<usize>3); }

/** R_k: the GEMM row count of step k. */
function stepRows(desc: usize, d: i32, k: i32, batch: i32): usize {
  let rows = <usize>batch;
  for (let l = k + 1; l < d; l++) rows *= <usize>dimA(desc, l);
  for (let l = 0; l < k; l++) rows *= <usize>dimB(desc, d, l);
  return rows;
}

function stateFloats(desc: usize, d: i32, k: i32, batch: i32): usize {
  return roundUp4(<usize>dimA(desc, k) * stepRows(desc, d, k, batch) * <usize>rank(desc, d, k));
}

/** Cores are stored back to back, each starting on a 16-byte boundary (floats rounded up to 4). */
function coreOffsetFloats(desc: usize, d: i32, k: i32): usize {
  let off: usize = 0;
  for (let l = 0; l < k; l++) off += roundUp4(<usize>rank(desc, d, l) * dimA(desc, l) * dimB(desc, d, l) * rank(desc, d, l + 1));
  return off;
}

function nIn(desc: usize, d: i32): i32 { let n = 1; for (let k = 0; k < d; k++) n *= dimA(desc, k); return n; }

/** y [batch × N_out] = x [batch × N_in] · W, saving the states for backward. */
export function ttmForwardF32(y: usize, x: usize, factors: usize, desc: usize, states: usize, batch: i32): void {
  const d = load<i32>(desc);
  transposeF32(states, x, batch, nIn(desc, d), nIn(desc, d));
  let z = states;
  for (let k = 0; k < d; k++) {
    const a = dimA(desc, k), b = dimB(desc, d, k), r0 = rank(desc, d, k), r1 = rank(desc, d, k + 1);
    const rows = <i32>stepRows(desc, d, k, batch);
    const next = k + 1 < d ? z + (stateFloats(desc, d, k, batch) << 2) : y;
    const g = factors + (coreOffsetFloats(desc, d, k) << 2);
    brgemmF32(next, b * r1, z, r0, 1, rows * r0, g, a * b * r1, b * r1, rows, b * r1, r0, a, false);
    z = next;
  }
}

/**
 * Gradients of the cores (written, not accumulated) and, when dx ≠ 0, of the input.
 * ws: pack buffer (max_k b_k r_{k+1} r_k floats) then two state-sized ping-pong buffers.
 */
export function ttmBackwardF32(dx: usize, dfactors: usize, dy: usize, factors: usize, desc: usize,
                               states: usize, ws: usize, batch: i32): void {
  const d = load<i32>(desc);
  let packFloats: usize = 0, stateMax: usize = 0;
  for (let k = 0; k < d; k++) {
    packFloats = max(packFloats, roundUp4(<usize>dimB(desc, d, k) * rank(desc, d, k + 1) * rank(desc, d, k)));
    stateMax = max(stateMax, stateFloats(desc, d, k, batch));
  }
  const pack = ws, ping = ws + (packFloats << 2), pong = ping + (stateMax << 2);
  // z walks back over the saved states; dOut is the gradient of step k's output.
  let zOff: usize = 0;
  for (let k = 0; k < d - 1; k++) zOff += stateFloats(desc, d, k, batch);
  let dOut = dy;
  for (let k = d - 1; k >= 0; k--) {
    const a = dimA(desc, k), b = dimB(desc, d, k), r0 = rank(desc, d, k), r1 = rank(desc, d, k + 1);
    const rows = <i32>stepRows(desc, d, k, batch);
    const z = states + (zOff << 2);
    const g = factors + (coreOffsetFloats(desc, d, k) << 2);
    const dg = dfactors + (coreOffsetFloats(desc, d, k) << 2);
    const n = b * r1, slice = <usize>rows * r0;
    for (let i = 0; i < a; i++) {
      // dG_k[:, i, :, :] = Z_k[i]ᵀ · dOut
      brgemmF32(dg + ((<usize>i * n) << 2), a * n, z + ((<usize>i * slice) << 2), 1, r0, 0,
                dOut, n, 0, r0, n, rows, 1, false);
    }
    if (k > 0 || dx != 0) {
      const dz = dOut == ping ? pong : ping;
      for (let i = 0; i < a; i++) {
        // dZ_k[i] = dOut · G_k[:, i, :, :]ᵀ, with the core slice packed transposed so B is row-major.
        transposeF32(pack, g + ((<usize>i * n) << 2), r0, n, a * n);
        brgemmF32(dz + ((<usize>i * slice) << 2), r0, dOut, n, 1, 0, pack, r0, 0, rows, r0, n, 1, false);
      }
      dOut = dz;
    }
    if (k > 0) zOff -= stateFloats(desc, d, k - 1, batch);
  }
  if (dx != 0) transposeF32(dx, dOut, nIn(desc, d), batch, batch);
}
