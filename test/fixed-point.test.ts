// hw-sim fixed point: rounding ties, truncation, saturation counted once per event, integer
// requantisation (int32 fast path and BigInt path against a BigInt reference), q15mulr_sat edge
// cases, dotI16 against a BigInt reference (wraps included), unbiased stochastic rounding, PCG32.
import t from 'tap';
import {
  Pcg32, quantize, dequantize, requantize, qMin, qMax, newCounters, addWrap32, addSat32, mulAcc,
  dotI16, dotI16x8, dotI8, q15MulrSat, INT32_MIN, INT32_MAX, type QFormat, type Rounding,
} from '../hw-sim/fixed/fixed-point.js';

const Q8: QFormat = { bits: 8, frac: 0 };
const Q16: QFormat = { bits: 16, frac: 0 };
const Q32: QFormat = { bits: 32, frac: 0 };

t.test('PCG32 matches the reference vector for initstate 42, initseq 54', async (t) => {
  const rng = new Pcg32(42n, 54n);
  const got = Array.from({ length: 6 }, () => rng.nextU32());
  t.same(got, [0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e]);
  const again = new Pcg32(42, 54);
  t.equal(again.nextU32(), 0xa15c02b7, 'number seeds equal bigint seeds');
});

t.test('qMin / qMax / dequantize', async (t) => {
  t.same([qMin(Q8), qMax(Q8), qMin(Q16), qMax(Q16), qMin(Q32), qMax(Q32)], [-128, 127, -32768, 32767, -(2 ** 31), 2 ** 31 - 1]);
  t.equal(dequantize(-3, { bits: 16, frac: 2 }), -0.75);
  t.equal(dequantize(5, { bits: 8, frac: -3 }), 40);
});

t.test('nearest-even ties at several frac values', async (t) => {
  const ties: [number, number][] = [[0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-0.5, 0], [-1.5, -2], [-2.5, -2], [-3.5, -4]];
  for (const frac of [0, 3, 7, 15, -2]) {
    const fmt: QFormat = { bits: 16, frac };
    for (const [lsb, want] of ties) {
      const c = newCounters();
      const got = quantize(lsb * 2 ** -frac, fmt, 'nearest-even', c);
      t.ok(Object.is(got, want), `frac ${frac}: ${lsb} LSB → ${want} (got ${Object.is(got, -0) ? '-0' : got})`);
      t.same(c, newCounters(), 'no events');
    }
    // Just off the tie goes to the nearer integer.
    t.equal(quantize((2.5 + 2 ** -20) * 2 ** -frac, fmt, 'nearest-even', newCounters()), 3);
    t.equal(quantize((-2.5 - 2 ** -20) * 2 ** -frac, fmt, 'nearest-even', newCounters()), -3);
  }
});

t.test('truncate rounds toward −∞', async (t) => {
  const fmt: QFormat = { bits: 16, frac: 4 };
  const cases: [number, number][] = [[-0.5, -1], [-1.25, -2], [-2, -2], [-0.001, -1], [1.75, 1], [0.999, 0]];
  for (const [lsb, want] of cases) t.equal(quantize(lsb / 16, fmt, 'truncate', newCounters()), want, `${lsb} LSB → ${want}`);
  t.ok(Object.is(quantize(-0, fmt, 'truncate', newCounters()), 0), '−0 → +0');
  // requantize truncate is an arithmetic shift
  t.equal(requantize(-1, 1, Q32, 'truncate', newCounters()), -1);
  t.equal(requantize(-5, 2, Q32, 'truncate', newCounters()), -2);
  t.equal(requantize(-(2 ** 40) - 1, 40, Q32, 'truncate', newCounters()), -2, 'BigInt path floors too');
});

t.test('quantize saturates at ±max and min, counting each event once', async (t) => {
  const cases: [number, QFormat, number, number][] = [
    [127, Q8, 127, 0], [127.4, Q8, 127, 0], [127.5, Q8, 127, 1], [128, Q8, 127, 1], [1e9, Q8, 127, 1],
    [-128, Q8, -128, 0], [-128.5, Q8, -128, 0], [-128.6, Q8, -128, 1], [-129, Q8, -128, 1],
    [32767, Q16, 32767, 0], [32768, Q16, 32767, 1], [-32768, Q16, -32768, 0], [-32769, Q16, -32768, 1],
    [2 ** 31 - 1, Q32, 2 ** 31 - 1, 0], [2 ** 31, Q32, 2 ** 31 - 1, 1], [-(2 ** 31), Q32, -(2 ** 31), 0],
    [-(2 ** 31) - 1, Q32, -(2 ** 31), 1], [Infinity, Q16, 32767, 1], [-Infinity, Q32, -(2 ** 31), 1],
    [1, { bits: 8, frac: 7 }, 127, 1], [-1, { bits: 8, frac: 7 }, -128, 0],
  ];
  for (const [x, fmt, want, sats] of cases) {
    const c = newCounters();
    t.equal(quantize(x, fmt, 'nearest-even', c), want, `${x} in Q${fmt.bits}.${fmt.frac} → ${want}`);
    t.same(c, { saturations: sats, overflows: 0, nans: 0 }, `${x}: ${sats} saturation(s)`);
  }
  const c = newCounters();
  t.equal(quantize(NaN, Q16, 'nearest-even', c), 0);
  t.equal(quantize(NaN, Q8, 'truncate', c), 0);
  t.same(c, { saturations: 0, overflows: 0, nans: 2 }, 'NaN → 0, counted as nans only');
});

t.test('int32 adds: wrap vs saturate, each counted once', async (t) => {
  const c = newCounters();
  t.equal(addWrap32(INT32_MAX, 1, c), INT32_MIN);
  t.equal(addWrap32(INT32_MIN, -1, c), INT32_MAX);
  t.equal(addWrap32(INT32_MIN, INT32_MIN, c), 0);
  t.equal(addWrap32(1000, -2000, c), -1000);
  t.same(c, { saturations: 0, overflows: 3, nans: 0 });
  const s = newCounters();
  t.equal(addSat32(INT32_MAX, 1, s), INT32_MAX);
  t.equal(addSat32(INT32_MIN, -1, s), INT32_MIN);
  t.equal(addSat32(INT32_MAX, -1, s), INT32_MAX - 1);
  t.same(s, { saturations: 2, overflows: 0, nans: 0 });
  const m = newCounters();
  t.equal(mulAcc(0, -32768, -32768, 'wrap', m), 2 ** 30, 'largest product fits int32');
  t.equal(mulAcc(2 ** 30, -32768, -32768, 'wrap', m), INT32_MIN);
  t.equal(mulAcc(2 ** 30, -32768, -32768, 'saturate', m), INT32_MAX);
  t.equal(mulAcc(-5, -128, 127, 'saturate', m), -5 - 16256);
  t.same(m, { saturations: 1, overflows: 1, nans: 0 });
  t.throws(() => mulAcc(0, 32768, 1, 'wrap', newCounters()), /a = 32768: must be an int16/);
  t.throws(() => addWrap32(2 ** 31, 0, newCounters()), /a = 2147483648: must be an int32/);
});

t.test('q15MulrSat models i16x8.q15mulr_sat_s', async (t) => {
  const c = newCounters();
  t.equal(q15MulrSat(-32768, -32768, c), 32767, '(−1)·(−1) saturates');
  t.same(c, { saturations: 1, overflows: 0, nans: 0 });
  const cases: [number, number, number][] = [
    [16384, 16384, 8192], [1, 16384, 1], [1, 16383, 0], [-1, 16384, 0], [-1, 16385, -1],
    [-32768, 32767, -32767], [-32768, -32767, 32767], [32767, 32767, 32766], [0, -32768, 0],
  ];
  const d = newCounters();
  for (const [a, b, want] of cases) t.equal(q15MulrSat(a, b, d), want, `${a}·${b} → ${want}`);
  t.same(d, newCounters(), 'no saturation except (−32768)²');
  const rng = new Pcg32(7, 1);
  for (let i = 0; i < 2000; i++) {
    const a = (rng.nextU32() << 16) >> 16, b = (rng.nextU32() << 16) >> 16;
    const ref = Number((BigInt(a) * BigInt(b) + 0x4000n) >> 15n);
    if (q15MulrSat(a, b, d) !== Math.min(ref, 32767)) { t.fail(`${a}·${b}: expected ${ref}`); break; }
  }
});

/** BigInt reference of requantize's rule for shift s ≥ 1, given the stochastic draw r. */
function refShift(acc: bigint, s: bigint, rounding: Rounding, r: number): bigint {
  const q = acc >> s, rem = acc - q * 2n ** s, twice = 2n * rem, one = 2n ** s;
  if (rounding === 'truncate') return q;
  if (rounding === 'nearest-even') return twice > one || (twice === one && q % 2n !== 0n) ? q + 1n : q;
  return BigInt(r) * one < rem * 2n ** 32n ? q + 1n : q;
}

t.test('requantize: ties and negative ties in integers, at many shifts', async (t) => {
  for (const s of [1, 2, 5, 15, 16, 30, 31, 32, 33, 40, 50]) {
    const h = 2 ** (s - 1);
    const cases: [number, number][] = [[h, 0], [3 * h, 2], [5 * h, 2], [7 * h, 4], [-h, 0], [-3 * h, -2], [-5 * h, -2], [-7 * h, -4]];
    if (s >= 2) cases.push([h + 1, 1], [h - 1, 0], [-h - 1, -1], [-h + 1, 0], [3 * h - 1, 1]);
    for (const [acc, want] of cases) {
      const c = newCounters();
      const got = requantize(acc, s, Q32, 'nearest-even', c);
      t.ok(Object.is(got, want), `shift ${s}: acc ${acc} → ${want} (got ${got})`);
      t.same(c, newCounters());
    }
  }
  // Non-zero output frac: shift = accFrac − out.frac.
  t.equal(requantize(3 * 2 ** 9, 20, { bits: 16, frac: 10 }, 'nearest-even', newCounters()), 2);
});

t.test('requantize saturates and left-shifts with saturation', async (t) => {
  const c = newCounters();
  t.equal(requantize(1000, 2, Q8, 'nearest-even', c), 127);
  t.equal(requantize(-1000, 2, Q8, 'nearest-even', c), -128);
  t.equal(requantize(-512, 2, Q8, 'nearest-even', c), -128, 'exactly min: no event');
  t.equal(requantize(INT32_MIN, 0, Q16, 'truncate', c), -32768);
  t.same(c, { saturations: 3, overflows: 0, nans: 0 });
  const l = newCounters();
  const out: QFormat = { bits: 8, frac: 4 };
  t.equal(requantize(3, 0, out, 'nearest-even', l), 48);
  t.equal(requantize(-8, 0, out, 'nearest-even', l), -128);
  t.equal(requantize(8, 0, out, 'nearest-even', l), 127);
  t.equal(requantize(-9, 0, out, 'nearest-even', l), -128);
  t.equal(requantize(2 ** 40, -20, Q32, 'truncate', l), INT32_MAX);
  t.equal(requantize(0, -60, Q32, 'truncate', l), 0);
  t.same(l, { saturations: 3, overflows: 0, nans: 0 });
  t.throws(() => requantize(1.5, 2, Q8, 'truncate', newCounters()), /acc = 1.5: must be a safe integer/);
  t.throws(() => requantize(1, 2, Q8, 'stochastic', newCounters()), /needs an rng/);
  t.throws(() => requantize(1, 2, { bits: 12 as 8, frac: 0 }, 'truncate', newCounters()), /out.bits = 12: must be 8, 16 or 32/);
});

t.test('requantize agrees with a BigInt reference on random accumulators (both paths)', async (t) => {
  const gen = new Pcg32(2024, 5);
  const modes: Rounding[] = ['nearest-even', 'truncate', 'stochastic'];
  let bad = 0;
  for (let i = 0; i < 6000; i++) {
    const rounding = modes[i % 3];
    const wide = i % 4 === 3; // beyond int32: the BigInt path
    const acc = wide ? (gen.nextU32() - 2 ** 31) * 2 ** 16 + (gen.nextU32() >>> 16) : gen.nextU32() | 0;
    const s = 1 + (gen.nextU32() % 45);
    const rng = new Pcg32(i, 9), refRng = new Pcg32(i, 9);
    const got = requantize(acc, s, Q32, rounding, newCounters(), rng);
    const r = rounding === 'stochastic' ? refRng.nextU32() : 0;
    const ref = refShift(BigInt(acc), BigInt(s), rounding, r);
    const want = Number(ref > BigInt(INT32_MAX) ? BigInt(INT32_MAX) : ref < BigInt(INT32_MIN) ? BigInt(INT32_MIN) : ref);
    if (got !== want && bad++ < 5) t.fail(`acc ${acc} shift ${s} ${rounding}: expected ${want}, got ${got}`);
  }
  t.equal(bad, 0, 'no mismatches');
});

t.test('dotI16 equals the BigInt reference mod 2^32 on 1000 seeded cases, wraps included', async (t) => {
  const rng = new Pcg32(11, 3);
  let wraps = 0, bad = 0;
  const c = newCounters();
  for (let k = 0; k < 1000; k++) {
    const n = rng.nextU32() % 70;
    const extreme = k % 5 === 0; // mostly ±max values: forces wraps
    const draw = (): number => extreme ? (rng.nextU32() & 1 ? -32768 : (rng.nextU32() & 1 ? 32767 : -32768)) : (rng.nextU32() << 16) >> 16;
    const a = Int16Array.from({ length: n }, draw), b = Int16Array.from({ length: n }, draw);
    let exact = 0n;
    for (let i = 0; i < n; i++) exact += BigInt(a[i]) * BigInt(b[i]);
    const want = Number(BigInt.asIntN(32, exact));
    if (want !== Number(exact)) wraps++;
    const got = dotI16(a, b, c);
    // The kernel's structure: dot_i16x8_s per 8 lanes, i32x4.add, scalar tail, horizontal sum.
    const lanes = new Int32Array(4), w = newCounters();
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      const d = dotI16x8(a.subarray(i, i + 8), b.subarray(i, i + 8));
      for (let j = 0; j < 4; j++) lanes[j] = addWrap32(lanes[j], d[j], w);
    }
    let acc = 0;
    for (; i < n; i++) acc = mulAcc(acc, a[i], b[i], 'wrap', w);
    for (let j = 0; j < 4; j++) acc = addWrap32(acc, lanes[j], w);
    if ((got !== want || acc !== want) && bad++ < 5) t.fail(`case ${k} n ${n}: expected ${want}, dotI16 ${got}, lane model ${acc}`);
  }
  t.equal(bad, 0, 'no mismatches');
  t.ok(wraps >= 50, `wrap cases covered (${wraps})`);
  t.equal(c.overflows, wraps, 'one overflow per wrapped result');
});

t.test('dotI16x8 wraps (−32768)²·2 to −2^31; dotI8 widens', async (t) => {
  const c = newCounters();
  const lanes = dotI16x8(new Int16Array(8).fill(-32768), new Int16Array(8).fill(-32768), c);
  t.same(Array.from(lanes), [INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN]);
  t.equal(c.overflows, 4, 'one per lane');
  const one = dotI16x8(Int16Array.of(-32768, 32767, 1, 2, 3, 4, -5, 6), Int16Array.of(-32768, 32767, 7, 8, 9, 10, 11, 12), c);
  t.same(Array.from(one), [2 ** 30 + 32767 * 32767, 23, 67, 17], '(−32768)² + 32767² still fits');
  t.equal(c.overflows, 4, 'only the all-min pair wraps');
  const d = newCounters();
  t.equal(dotI16(new Int16Array(8).fill(-32768), new Int16Array(8).fill(-32768), d), 0, '8·2^30 = 2^33 ≡ 0');
  t.equal(d.overflows, 1);
  t.equal(dotI8(Int8Array.of(-128, 127, -1), Int8Array.of(-128, -128, 5), d), 16384 - 16256 - 5);
  t.equal(dotI8(new Int8Array(0), new Int8Array(0), d), 0);
  t.equal(d.overflows, 1);
  t.throws(() => dotI16(new Int16Array(3), new Int16Array(4)), /a.length = 3 but b.length = 4/);
});

t.test('stochastic rounding is unbiased and reproducible from the seed', async (t) => {
  const N = 200_000, p = 0.3, se = Math.sqrt(p * (1 - p) / N);
  for (const k of [5, -3]) {
    const fmt: QFormat = { bits: 16, frac: 4 };
    const x = (k + p) / 16, rng = new Pcg32(99, k & 0xff), c = newCounters();
    let sum = 0;
    const seen = new Set<number>();
    for (let i = 0; i < N; i++) { const q = quantize(x, fmt, 'stochastic', c, rng); sum += q; seen.add(q); }
    const mean = sum / N;
    t.ok(Math.abs(mean - (k + p)) < 4 * se, `quantize k=${k}: mean ${mean} within 4·${se.toExponential(2)} of ${k + p}`);
    t.same([...seen].sort((u, v) => u - v), [k, k + 1], 'only the two neighbours');
  }
  // requantize: acc = 5·2^10 + 307, fraction 307/1024
  const rng = new Pcg32(5, 5), fr = 307 / 1024, se2 = Math.sqrt(fr * (1 - fr) / N);
  let sum = 0;
  for (let i = 0; i < N; i++) sum += requantize(5 * 1024 + 307, 10, Q16, 'stochastic', newCounters(), rng);
  t.ok(Math.abs(sum / N - (5 + fr)) < 4 * se2, `requantize mean ${sum / N} ≈ ${5 + fr}`);

  const run = (seq: number): number[] => {
    const g = new Pcg32(1234, seq);
    return Array.from({ length: 1000 }, (_, i) => quantize((i % 37) / 7, { bits: 8, frac: 2 }, 'stochastic', newCounters(), g));
  };
  t.same(run(1), run(1), 'same seed, same sequence');
  t.not(run(1).join(), run(2).join(), 'another stream differs');
});

t.test('stochastic draws exactly one u32 per call (NaN, saturated and exact values too)', async (t) => {
  const g = new Pcg32(3, 4), ref = new Pcg32(3, 4), c = newCounters();
  quantize(NaN, Q8, 'stochastic', c, g);
  quantize(1e6, Q8, 'stochastic', c, g);
  quantize(2, Q8, 'stochastic', c, g);
  requantize(8, 3, Q8, 'stochastic', c, g);
  requantize(7, 0, Q8, 'stochastic', c, g);
  for (let i = 0; i < 5; i++) ref.nextU32();
  t.equal(g.state, ref.state);
  t.same(c, { saturations: 1, overflows: 0, nans: 1 });
  t.throws(() => quantize(1, Q8, 'stochastic', newCounters()), /needs an rng/);
});
