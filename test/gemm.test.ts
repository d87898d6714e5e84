// BRGEMM: the SIMD build (node flavour) and the scalar build (edge-scalar) give the same bits on
// random shapes with ragged edges, every stride layout, batch-reduce, accumulate and the
// cache-blocked paths; both match an f64 reference within f32 rounding.
import t from 'tap';
import { loadCore, type Core } from '../src/core/wasm.js';
import { F32_VS_F64_REL } from './helpers/tolerances.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

interface Case { m: number; n: number; k: number; batch: number; tn: boolean; accumulate: boolean }

/** Lays the operands out at fixed offsets in a core's memory and runs brgemmF32; returns C. */
function runCase(core: Core, c: Case, seed: number): Float32Array {
  const { m, n, k, batch, tn } = c;
  const aFloats = batch * m * k, bFloats = batch * k * n, cFloats = m * n;
  const base = Math.ceil(core.exports.heapBase() / 16) * 16;
  const need = base + (aFloats + bFloats + cFloats) * 4 + 64;
  const have = core.memory.buffer.byteLength;
  if (need > have) core.memory.grow(Math.ceil((need - have) / 65536));
  const f = new Float32Array(core.memory.buffer, base, aFloats + bFloats + cFloats);
  const rnd = lcg(seed);
  for (let i = 0; i < f.length; i++) f[i] = rnd() * 2 - 1;
  const A = base, B = A + aFloats * 4, C = B + bFloats * 4;
  const [sai, sak] = tn ? [1, m] : [k, 1];
  core.exports.brgemmF32(C, n, A, sai, sak, m * k, B, n, k * n, m, n, k, batch, c.accumulate ? 1 : 0);
  return new Float32Array(core.memory.buffer, C, cFloats).slice();
}

function reference(c: Case, seed: number): Float64Array {
  const { m, n, k, batch, tn } = c;
  const rnd = lcg(seed);
  const all = Float32Array.from({ length: batch * m * k + batch * k * n + m * n }, () => rnd() * 2 - 1);
  const A = all.subarray(0, batch * m * k), B = all.subarray(batch * m * k, batch * (m * k + k * n)), C0 = all.subarray(batch * (m * k + k * n));
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = c.accumulate ? C0[i * n + j] : 0;
    for (let b = 0; b < batch; b++) for (let kk = 0; kk < k; kk++) {
      const a = tn ? A[b * m * k + kk * m + i] : A[b * m * k + i * k + kk];
      s += a * B[b * k * n + kk * n + j];
    }
    out[i * n + j] = s;
  }
  return out;
}

t.test('SIMD and scalar BRGEMM agree bit for bit and match the f64 reference', async (t) => {
  const simd = await loadCore('node'), scalar = await loadCore('edge-scalar');
  const edges = [0, 1, 3, 4, 5, 8, 17];
  const cases: Case[] = [];
  for (const m of edges) for (const n of edges) cases.push({ m, n, k: 5, batch: 1, tn: false, accumulate: false });
  const rnd = lcg(2026);
  const pick = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  for (let i = 0; i < 40; i++) {
    // Includes passes chunked over t (k·batch > 128) and over k (k > 128), and wide n (several panels).
    cases.push({ m: pick(1, 140), n: pick(1, 150), k: pick(1, 300), batch: pick(1, 7), tn: rnd() < 0.5, accumulate: rnd() < 0.5 });
  }
  let mismatches = 0, worst = 0;
  for (const [i, c] of cases.entries()) {
    const a = runCase(simd, c, i + 1), b = runCase(scalar, c, i + 1);
    const bitsA = new Uint32Array(a.buffer), bitsB = new Uint32Array(b.buffer);
    const differs = bitsA.findIndex((v, j) => v !== bitsB[j]);
    if (differs >= 0) {
      mismatches++;
      t.fail(`m=${c.m} n=${c.n} k=${c.k} batch=${c.batch} tn=${c.tn} acc=${c.accumulate}: index ${differs} SIMD ${a[differs]} vs scalar ${b[differs]}`);
    }
    const ref = reference(c, i + 1);
    for (let j = 0; j < ref.length; j++) {
      const scale = Math.max(1, Math.sqrt(c.k * c.batch));
      worst = Math.max(worst, Math.abs(a[j] - ref[j]) / scale);
    }
  }
  t.equal(mismatches, 0, `${cases.length} shapes: SIMD = scalar bit for bit`);
  t.ok(worst <= 10 * F32_VS_F64_REL, `worst error vs f64 reference ${worst.toExponential(2)} (per sqrt(k·batch)) ≤ ${10 * F32_VS_F64_REL}`);
});
