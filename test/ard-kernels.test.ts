// The variational kernels' SIMD paths (assembly/bayes.ts, vmath.ts, the polar normals of rng.ts):
// σ = softplus(ρ) against f64 over the whole f32 range, NaN kept; the node (SIMD) and edge-scalar
// flavours give the same bits on shapes with tails and every slice layout, and leave the random
// stream in the same state; the normals have the moments and tails of N(0, 1).
import t from 'tap';
import { loadCore, type Core } from '../src/core/wasm.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

/** 16-byte aligned scratch of `bytes` past the core's heap base. */
function scratch(core: Core, bytes: number): number {
  const base = (core.exports.heapBase() + 15) & ~15;
  const need = base + bytes - core.memory.buffer.byteLength;
  if (need > 0) core.memory.grow(Math.ceil(need / 65536));
  return base;
}

t.test('σ = softplus(ρ) within 3 ulp of f64 from ρ = −87 to 88; NaN stays NaN, +∞ stays +∞', async (t) => {
  const core = await loadCore('node');
  const e = core.exports;
  const rnd = lcg(7);
  const rho: number[] = [];
  for (let x = -87; x <= 88; x += 0.01) rho.push(x);
  for (let i = 0; i < 20000; i++) rho.push((rnd() * 2 - 1) * 30);
  rho.push(0, -0, 1e-30, -1e-30, 20, 20.0001, -20, NaN, Infinity);
  const n = rho.length;
  const base = scratch(core, 64 + n * 17);
  const mu = base, r = base + n * 4, out = base + n * 8 + 8 - ((base + n * 8) % 8);
  new Float32Array(core.memory.buffer, mu, n).fill(0);
  new Float32Array(core.memory.buffer, r, n).set(rho);
  const stats = new Float64Array(core.memory.buffer, out, n).fill(0);
  e.sliceSquaresF64(out, mu, r, 1, n, 1); // μ = 0: slice s holds σ_s² (an exact f64 square)
  const f32 = new Float32Array(core.memory.buffer, r, n);
  let worstUlp = 0, at = 0;
  for (let s = 0; s < n - 2; s++) {
    const x = f32[s];
    const want = Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    const got = Math.sqrt(stats[s]);
    const ulp = 2 ** (Math.floor(Math.log2(want)) - 23);
    const err = Math.abs(got - want) / ulp;
    if (err > worstUlp) { worstUlp = err; at = x; }
  }
  t.ok(worstUlp <= 3, `worst error ${worstUlp.toFixed(2)} ulp (at ρ = ${at})`);
  t.ok(Number.isNaN(stats[n - 2]), 'softplus(NaN) is NaN');
  t.equal(stats[n - 1], Infinity, 'softplus(+∞) = +∞');
});

t.test('node (SIMD) and edge-scalar give the same bits: sample, KL gradients, EM statistics, stream', async (t) => {
  const cores = { node: await loadCore('node'), scalar: await loadCore('edge-scalar') };
  const shapes: Array<[number, number, number]> = [[1, 1, 1], [1, 3, 1], [5, 7, 1], [3, 4, 5], [2, 6, 3], [1, 9, 13], [40, 20, 1], [1, 20, 97]];
  for (const [outer, slices, inner] of shapes) {
    const n = outer * slices * inner;
    const results: Record<string, { w: Uint32Array; eps: Uint32Array; gmu: Uint32Array; grho: Uint32Array; kl: number; stats: Float64Array; next: number }> = {};
    for (const [name, core] of Object.entries(cores)) {
      const e = core.exports;
      const stride = (n * 4 + 15) & ~15;
      const base = scratch(core, 64 + 8 * stride + slices * 12 + 64);
      const at = (k: number): number => base + 64 + k * stride;
      const [w, eps, mu, rho, gmu, grho] = [0, 1, 2, 3, 4, 5].map((k) => new Float32Array(core.memory.buffer, at(k), n));
      const prec = new Float32Array(core.memory.buffer, at(6), slices);
      const stats = new Float64Array(core.memory.buffer, (at(6) + slices * 4 + 15) & ~15, slices);
      const rnd = lcg(n * 31 + slices);
      for (let i = 0; i < n; i++) { mu[i] = (rnd() * 2 - 1) * 0.3; rho[i] = -9 + rnd() * 12; gmu[i] = (rnd() * 2 - 1) * 1e-2; }
      rho[0] = 25; if (n > 2) rho[2] = -95; // past both softplus branches and the exp clamp
      for (let s = 0; s < slices; s++) prec[s] = s === 1 ? 1e30 : 0.5 + rnd() * 50;
      e.rngSeed(base, 11n, BigInt(n));
      e.sampleWeightsF32(at(0), at(1), at(2), at(3), base, n);
      const kl = e.sviGradF32(at(4), at(5), at(2), at(3), at(1), at(6), outer, slices, inner, 0.3);
      stats.fill(1);
      e.sliceSquaresF64(stats.byteOffset, at(2), at(3), outer, slices, inner);
      const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.slice().buffer);
      results[name] = { w: bits(w), eps: bits(eps), gmu: bits(gmu), grho: bits(grho), kl, stats: stats.slice(), next: e.rngNextU32(base) };
    }
    const a = results.node, b = results.scalar;
    const same = (x: ArrayLike<number>, y: ArrayLike<number>): boolean => x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => Object.is(v, y[i]));
    t.ok(same(a.eps, b.eps) && same(a.w, b.w), `[${outer}×${slices}×${inner}] ε and w = μ + σε`);
    t.ok(same(a.gmu, b.gmu) && same(a.grho, b.grho), `[${outer}×${slices}×${inner}] ∂/∂μ and ∂/∂ρ`);
    t.ok(Object.is(a.kl, b.kl) && Number.isFinite(a.kl), `[${outer}×${slices}×${inner}] KL ${a.kl}`);
    t.ok(same(a.stats, b.stats), `[${outer}×${slices}×${inner}] slice sums of μ² + σ²`);
    t.equal(a.next, b.next, `[${outer}×${slices}×${inner}] the stream ends in the same state`);
  }
});

t.test('the polar normals: moments and tails of N(0, 1), odd counts filled', async (t) => {
  const core = await loadCore('node');
  const e = core.exports;
  const n = 400001;
  const base = scratch(core, 256 + n * 20);
  const out = base + 64;
  e.rngSeed(base, 3n, 9n);
  const z = new Float32Array(core.memory.buffer, out, n + 1);
  z[n] = 12345; // one past the end: must stay
  // The sampler keeps its draws in ε (here z); μ = ρ = 0.
  const w = out + (n + 4) * 4, mu = w + n * 4, rho = mu + n * 4;
  new Float32Array(core.memory.buffer, mu, n).fill(0);
  new Float32Array(core.memory.buffer, rho, n).fill(0);
  e.sampleWeightsF32(w, out, mu, rho, base, n);
  let s1 = 0, s2 = 0, s4 = 0, tail = 0;
  for (let i = 0; i < n; i++) { const x = z[i]; s1 += x; s2 += x * x; s4 += x ** 4; if (Math.abs(x) > 3) tail++; }
  const mean = s1 / n, v = s2 / n - mean * mean, kurt = s4 / n / (v * v);
  t.ok(Math.abs(mean) < 4 / Math.sqrt(n), `mean ${mean.toExponential(2)}`);
  t.ok(Math.abs(v - 1) < 4 * Math.sqrt(2 / n), `variance ${v.toFixed(5)}`);
  t.ok(Math.abs(kurt - 3) < 4 * Math.sqrt(96 / n), `kurtosis ${kurt.toFixed(4)}`);
  const pTail = 0.0026998, sd = Math.sqrt(pTail * (1 - pTail) / n);
  t.ok(Math.abs(tail / n - pTail) < 4 * sd, `P(|z| > 3) = ${(tail / n).toFixed(5)} (N(0,1): ${pTail})`);
  t.ok(Number.isFinite(z[n - 1]) && z[n - 1] !== 0, 'the last (odd) entry is drawn');
  t.equal(z[n], 12345, 'nothing written past n');
});
