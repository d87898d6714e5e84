// The low-precision training kernels (assembly/lowp.ts) against hw-sim's golden model
// (hw-sim/fixed/lowp.ts over fixed-point.ts) bit for bit, on all three flavours: quantisation with
// nearest-even and stochastic rounding (random shapes and strides, both layouts, ties, saturation,
// NaN and ±Inf, the PCG32 stream left where the model leaves it), stochastic rounding unbiased in
// the mean, the int16 GEMM (full-range operands, so wrapping sums too, any kp, accumulate), the
// largest-|x| reduction; and the scale policy (operandBits keeps k products inside int32).
import t from 'tap';
import { loadCore, type Core, type Flavour } from '../src/core/wasm.js';
import { HostRng } from '../src/util/rng.js';
import { Pcg32, dotI16 } from '../hw-sim/fixed/fixed-point.js';
import { quantI16, gemmI16, operandBits, dynamicFrac } from '../hw-sim/fixed/lowp.js';

const FLAVOURS: Flavour[] = ['node', 'edge-simd', 'edge-scalar'];

/** A bump allocator over the core's memory from its heap base (16-byte aligned blocks). */
function arena(core: Core, bytes: number): (n: number) => number {
  const base = core.exports.heapBase();
  const need = base + bytes;
  if (core.memory.buffer.byteLength < need) core.memory.grow(Math.ceil((need - core.memory.buffer.byteLength) / 65536));
  let at = base;
  return (n: number) => { const p = at; at += Math.ceil(n / 16) * 16; if (at > need) throw new Error('arena full'); return p; };
}

function values(rng: HostRng, n: number, frac: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const k = rng.below(10);
    x[i] = k === 0 ? (rng.below(2000) - 1000 + 0.5) * 2 ** -frac // an exact tie
      : k === 1 ? (rng.below(2) ? 1 : -1) * 40000 * 2 ** -frac // saturates
        : k === 2 ? [NaN, Infinity, -Infinity, -0][rng.below(4)]
          : rng.normal() * 3000 * 2 ** -frac;
  }
  return x;
}

t.test('quantI16 equals hw-sim quantize bit for bit (both roundings, both layouts, ties, saturation, NaN)', async (t) => {
  for (const flavour of FLAVOURS) {
    const core = await loadCore(flavour);
    const e = core.exports;
    const rng = new HostRng(3);
    let cases = 0, bad = 0, sats = 0;
    for (let c = 0; c < 60; c++) {
      const alloc = arena(core, 1 << 16);
      const rows = 1 + rng.below(9), cols = 1 + rng.below(13), ldx = cols + rng.below(3);
      const transpose = rng.below(2) === 1, stochastic = rng.below(2) === 1;
      const len = transpose ? rows : cols, ldq = Math.ceil((len + rng.below(9)) / 8) * 8, frac = rng.below(19) - 4;
      const x = values(rng, rows * ldx, frac);
      const xp = alloc(x.byteLength), qp = alloc((transpose ? cols : rows) * ldq * 2), rp = alloc(16);
      new Float32Array(core.memory.buffer, xp, x.length).set(x);
      new Int16Array(core.memory.buffer, qp, (transpose ? cols : rows) * ldq).fill(0x5555); // padding must be written
      e.rngSeed(rp, BigInt(c + 1), 7n);
      const got = e.quantI16(qp, ldq, xp, ldx, rows, cols, transpose, frac, stochastic, rp);
      const golden = new Pcg32(c + 1, 7);
      const want = quantI16(x, ldx, rows, cols, transpose, ldq, frac, stochastic ? 'stochastic' : 'nearest-even', golden);
      const q = new Int16Array(core.memory.buffer, qp, want.q.length);
      const same = q.every((v, i) => v === want.q[i]) && got === want.counters.saturations;
      const streamSame = e.rngNextU32(rp) >>> 0 === golden.nextU32();
      if (same && streamSame) cases++; else { bad++; if (bad < 3) t.fail(`${flavour} case ${c}: ${rows}×${cols} T=${transpose} sr=${stochastic} frac=${frac}: q or saturations (${got} vs ${want.counters.saturations}) or stream differ`); }
      sats += got;
    }
    t.equal(cases, 60, `${flavour}: 60 random blocks equal the golden model (${sats} saturations among them)`);
  }
  const core = await loadCore('node');
  const e = core.exports, alloc = arena(core, 1 << 12);
  const ties = Float32Array.from([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 32767.5, -32768.5]);
  const xp = alloc(32), qp = alloc(16);
  new Float32Array(core.memory.buffer, xp, 8).set(ties);
  t.equal(e.quantI16(qp, 8, xp, 8, 1, 8, false, 0, false, 0), 1, 'only 32767.5 (→ 32768) saturates');
  t.same([...new Int16Array(core.memory.buffer, qp, 8)], [0, 2, 2, 0, -2, -2, 32767, -32768], 'ties go to even');
});

t.test('stochastic rounding is unbiased in the mean', async (t) => {
  const core = await loadCore('node');
  const e = core.exports, n = 40000, alloc = arena(core, n * 6 + 64);
  const xp = alloc(n * 4), qp = alloc(n * 2), rp = alloc(16);
  for (const v of [0.3, -1.7, 5.0625]) {
    new Float32Array(core.memory.buffer, xp, n).fill(v);
    e.rngSeed(rp, 11n, 1n);
    e.quantI16(qp, n, xp, n, 1, n, false, 0, true, rp);
    const q = new Int16Array(core.memory.buffer, qp, n);
    const mean = q.reduce((s, x) => s + x, 0) / n;
    const f = Math.fround(v) - Math.floor(Math.fround(v)), sd = Math.sqrt(f * (1 - f) / n);
    t.ok(Math.abs(mean - Math.fround(v)) < 4 * sd + 1e-9, `mean of ${n} roundings of ${v}: ${mean.toFixed(5)} (σ of the mean ${sd.toExponential(2)})`);
    t.ok(q.every((x) => x === Math.floor(v) || x === Math.floor(v) + 1), 'each rounds to a neighbour');
  }
});

t.test('gemmI16 equals the golden dotI16 GEMM bit for bit, wrapping sums included', async (t) => {
  for (const flavour of FLAVOURS) {
    const core = await loadCore(flavour);
    const e = core.exports;
    const rng = new HostRng(5);
    let cases = 0, wrapped = 0;
    for (let c = 0; c < 60; c++) {
      const alloc = arena(core, 1 << 17);
      const m = 1 + rng.below(7), n = 1 + rng.below(9), kp = 1 + rng.below(40);
      const lda = kp + rng.below(5), ldb = kp + rng.below(5), ldc = n + rng.below(3);
      const full = c % 3 === 0; // full range: sums wrap; else small values
      const draw = (): number => (full ? rng.below(65536) - 32768 : rng.below(2001) - 1000);
      const a = Int16Array.from({ length: m * lda }, draw), bt = Int16Array.from({ length: n * ldb }, draw);
      if (full) { a[0] = -32768; bt[0] = -32768; a[1 % a.length] = -32768; bt[1 % bt.length] = -32768; }
      const c0 = Float32Array.from({ length: m * ldc }, () => rng.normal());
      const scale = 2 ** -(rng.below(40)), accumulate = rng.below(2) === 1;
      const ap = alloc(a.byteLength), bp = alloc(bt.byteLength), cp = alloc(c0.byteLength);
      new Int16Array(core.memory.buffer, ap, a.length).set(a);
      new Int16Array(core.memory.buffer, bp, bt.length).set(bt);
      new Float32Array(core.memory.buffer, cp, c0.length).set(c0);
      e.gemmI16(cp, ldc, ap, lda, bp, ldb, m, n, kp, scale, accumulate);
      const want = c0.slice();
      const counters = { saturations: 0, overflows: 0, nans: 0 };
      gemmI16(want, ldc, a, lda, bt, ldb, m, n, kp, scale, accumulate, counters);
      wrapped += counters.overflows;
      const got = new Float32Array(core.memory.buffer, cp, c0.length);
      if (got.every((v, i) => Object.is(v, want[i]))) cases++;
      else t.fail(`${flavour} case ${c}: ${m}×${n}×${kp} differs`);
    }
    t.equal(cases, 60, `${flavour}: 60 random GEMMs equal the golden model`);
    t.ok(wrapped > 0, `${flavour}: among them ${wrapped} wrapped int32 sums`);
  }
});

t.test('maxAbsF32 and the scale policy', async (t) => {
  for (const flavour of FLAVOURS) {
    const core = await loadCore(flavour);
    const alloc = arena(core, 4096);
    const x = Float32Array.from({ length: 37 }, (_, i) => Math.sin(i) * (i === 29 ? 9 : 1));
    x[3] = NaN;
    const xp = alloc(x.byteLength);
    new Float32Array(core.memory.buffer, xp, x.length).set(x);
    t.equal(core.exports.maxAbsF32(xp, x.length), Math.fround(Math.abs(Math.sin(29) * 9)), `${flavour}: largest |x|, NaN ignored`);
  }
  t.equal(operandBits(128), 12);
  t.equal(operandBits(784), 11);
  t.equal(operandBits(1), 16);
  for (const k of [1, 7, 8, 100, 128, 784, 4096, 100000]) {
    const b = operandBits(k), top = 2 ** (b - 1);
    t.ok(k * top * top < 2 ** 31, `k = ${k}: ${b}-bit operands, k·2^(2(b−1)) = 2^${Math.log2(k * top * top).toFixed(2)} < 2^31`);
    // The worst case at those bits does not wrap (|q| ≤ 2^(b−1), all signs alike).
    const q = new Int16Array(k).fill(-top);
    const c = { saturations: 0, overflows: 0, nans: 0 };
    dotI16(q, q, c);
    t.equal(c.overflows, 0, `k = ${k}: the extreme dot product (−2^(b−1) on every entry) stays in int32`);
  }
  t.equal(dynamicFrac(1, 13), 11, 'maxAbs 1 at 13 bits: 1·2^11 < 2^12');
  t.equal(dynamicFrac(0.75, 13), 12);
  t.equal(dynamicFrac(0, 13), 0);
  const rng = new HostRng(9);
  for (let i = 0; i < 200; i++) {
    const m = Math.fround(Math.exp(rng.normal() * 8)), bits = 2 + rng.below(15), f = dynamicFrac(m, bits);
    if (f > -64 && f < 64) t.ok(m * 2 ** f < 2 ** (bits - 1) && m * 2 ** (f + 1) >= 2 ** (bits - 1), `dynamicFrac(${m}, ${bits}) = ${f} is the largest that fits`);
  }
});
