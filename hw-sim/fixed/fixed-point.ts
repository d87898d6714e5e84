// Bit-accurate fixed-point model: the arithmetic that the WASM integer kernels (i16x8,
// i32x4.dot_i16x8_s, int8 widened to int16) and an FPGA datapath must reproduce bit for bit.
//
// Semantics, and why:
// - Q-formats: signed two's complement `bits`-bit integers, value = int / 2^frac. Power-of-two
//   scales make every rescale a shift, so hardware needs no multiplier for it.
// - Rounding: 'nearest-even' (ties to even: no bias on ties, as in IEEE), 'truncate' (toward −∞,
//   an arithmetic shift: free in hardware, biased by −½ LSB) and 'stochastic' (round up with
//   probability equal to the discarded fraction: unbiased in expectation, which keeps low-bit
//   training from stalling). Stochastic rounding draws exactly ONE PCG32 u32 per call, even when
//   the value is exact, NaN or saturates, so the RNG stream never depends on the data; with draw r
//   it rounds up iff r / 2^32 < fraction, i.e. r·2^s < rem·2^32 for the s discarded bits rem.
// - Saturation vs wrap is always explicit: conversions and requantisation saturate (a clamp is a
//   small error, a sign flip a huge one); integer adds come as addWrap32 (what i32.add and
//   i32x4.add do) and addSat32. Counters record each event once: `saturations` (a value was
//   clamped), `overflows` (a wrap changed a result), `nans` (a NaN input became 0).
// - i32x4.dot_i16x8_s: lane i = a[2i]·b[2i] + a[2i+1]·b[2i+1] mod 2^32; its only wrap is
//   (−32768)²·2 = 2^31 → −2^31. Wrapping adds are associative mod 2^32, so any lane layout, tail
//   loop or horizontal-sum order gives the same bits: the exact dot product mod 2^32. dotI16
//   returns that and counts one overflow when it differs from the exact value.
// - Integer paths are exact: products via Math.imul (|int16·int16| ≤ 2^30 fits int32), shifts and
//   masks on int32, BigInt beyond 32 bits. Floats appear only in quantize/dequantize, where
//   x·2^frac is exact (a power-of-two scale) unless the result is subnormal.

export interface QFormat { bits: 8 | 16 | 32; frac: number }
export type Rounding = 'nearest-even' | 'stochastic' | 'truncate';
export type OverflowMode = 'wrap' | 'saturate';
export interface FixedCounters { saturations: number; overflows: number; nans: number }

export const newCounters = (): FixedCounters => ({ saturations: 0, overflows: 0, nans: 0 });

export const INT32_MIN = -0x80000000;
export const INT32_MAX = 0x7fffffff;
/** Largest |frac| (and |accFrac|): keeps 2^frac and every shift far from float overflow. */
export const MAX_FRAC = 64;
/** Longest dot product: n·2^30 < 2^53, so the exact sum is still exact in a double. */
export const MAX_DOT_LENGTH = 2 ** 22;

export function checkFormat(fmt: QFormat, what = 'format'): void {
  if (fmt.bits !== 8 && fmt.bits !== 16 && fmt.bits !== 32) {
    throw new RangeError(`${what}.bits = ${fmt.bits}: must be 8, 16 or 32`);
  }
  checkFrac(`${what}.frac`, fmt.frac);
}

function checkFrac(name: string, frac: number): void {
  if (!Number.isInteger(frac) || Math.abs(frac) > MAX_FRAC) {
    throw new RangeError(`${name} = ${frac}: must be an integer in [-${MAX_FRAC}, ${MAX_FRAC}]`);
  }
}

function checkRounding(rounding: Rounding, rng: Pcg32 | undefined): void {
  if (rounding !== 'nearest-even' && rounding !== 'truncate' && rounding !== 'stochastic') {
    throw new RangeError(`rounding = ${String(rounding)}: must be 'nearest-even', 'stochastic' or 'truncate'`);
  }
  if (rounding === 'stochastic' && !rng) throw new Error(`rounding 'stochastic' needs an rng: pass a seeded Pcg32`);
}

function checkInt(name: string, v: number, bits: 16 | 32): void {
  const ok = bits === 32 ? (v | 0) === v : (v << 16) >> 16 === v;
  if (!ok) throw new RangeError(`${name} = ${v}: must be an int${bits}`);
}

export const qMin = (fmt: QFormat): number => -(2 ** (fmt.bits - 1));
export const qMax = (fmt: QFormat): number => 2 ** (fmt.bits - 1) - 1;

/** Clamps an integer to the format's range, counting a clamp; also turns −0 into 0. */
function saturate(v: number, fmt: QFormat, counters: FixedCounters): number {
  const lo = qMin(fmt), hi = qMax(fmt);
  if (v > hi) { counters.saturations++; return hi; }
  if (v < lo) { counters.saturations++; return lo; }
  return v + 0;
}

// ---- PCG32 (XSH-RR 64/32, O'Neill's pcg32_random_r), state in BigInt ----

const PCG_MULT = 6364136223846793005n;

/** Standard PCG32: the same seed gives the same u32 stream as the C reference (pcg_basic.c). */
export class Pcg32 {
  /** 64-bit state and odd increment (the stream); saving both resumes the stream exactly. */
  state = 0n;
  inc = 1n;

  /** pcg32_srandom_r(initstate, initseq). */
  constructor(initstate: bigint | number, initseq: bigint | number) {
    this.inc = BigInt.asUintN(64, (BigInt(initseq) << 1n) | 1n);
    this.nextU32();
    this.state = BigInt.asUintN(64, this.state + BigInt(initstate));
    this.nextU32();
  }

  nextU32(): number {
    const old = this.state;
    this.state = BigInt.asUintN(64, old * PCG_MULT + this.inc);
    const xorshifted = Number(BigInt.asUintN(32, ((old >> 18n) ^ old) >> 27n));
    const rot = Number(old >> 59n);
    return ((xorshifted >>> rot) | (xorshifted << (-rot & 31))) >>> 0;
  }
}

// ---- float <-> Q ----

/** x → nearest representable integer of `fmt` under `rounding`, saturating; NaN → 0 (counted). */
export function quantize(x: number, fmt: QFormat, rounding: Rounding, counters: FixedCounters, rng?: Pcg32): number {
  checkFormat(fmt);
  checkRounding(rounding, rng);
  const r = rounding === 'stochastic' ? rng!.nextU32() : 0; // drawn first: one draw per call
  if (Number.isNaN(x)) { counters.nans++; return 0; }
  const y = x * 2 ** fmt.frac;
  let q = Math.floor(y); // ±Infinity stays and saturates below
  if (Number.isFinite(y)) {
    const f = y - q; // exact: y − floor(y) is representable
    if (rounding === 'nearest-even') {
      if (f > 0.5 || (f === 0.5 && q % 2 !== 0)) q += 1;
    } else if (rounding === 'stochastic') {
      if (r < f * 2 ** 32) q += 1; // f·2^32 is exact
    }
  }
  return saturate(q, fmt, counters);
}

export const dequantize = (q: number, fmt: QFormat): number => q * 2 ** -fmt.frac;

// ---- integer arithmetic ----

/** i32.add / i32x4.add lane: result mod 2^32; counts an overflow when it wrapped. */
export function addWrap32(a: number, b: number, counters: FixedCounters): number {
  checkInt('a', a, 32);
  checkInt('b', b, 32);
  const exact = a + b, wrapped = exact | 0;
  if (wrapped !== exact) counters.overflows++;
  return wrapped;
}

/** Saturating int32 add: clamps to [−2^31, 2^31 − 1]; counts a saturation when it clamped. */
export function addSat32(a: number, b: number, counters: FixedCounters): number {
  checkInt('a', a, 32);
  checkInt('b', b, 32);
  const exact = a + b;
  if (exact > INT32_MAX) { counters.saturations++; return INT32_MAX; }
  if (exact < INT32_MIN) { counters.saturations++; return INT32_MIN; }
  return exact;
}

/** acc + a·b for int8/int16 a, b and int32 acc; the product always fits int32, the add is `overflow`. */
export function mulAcc(acc: number, a: number, b: number, overflow: OverflowMode, counters: FixedCounters): number {
  checkInt('a', a, 16);
  checkInt('b', b, 16);
  const p = Math.imul(a, b);
  return overflow === 'wrap' ? addWrap32(acc, p, counters) : addSat32(acc, p, counters);
}

/** One i32x4.dot_i16x8_s: 8 int16 lanes of a and b → 4 int32 lanes; counts each lane that wraps. */
export function dotI16x8(a: Int16Array, b: Int16Array, counters?: FixedCounters): Int32Array {
  if (a.length !== 8 || b.length !== 8) {
    throw new RangeError(`dotI16x8: a.length = ${a.length}, b.length = ${b.length}: both must be 8 (one v128 of i16)`);
  }
  const out = new Int32Array(4);
  for (let i = 0; i < 4; i++) {
    const exact = Math.imul(a[2 * i], b[2 * i]) + Math.imul(a[2 * i + 1], b[2 * i + 1]);
    out[i] = exact; // Int32Array stores wrap mod 2^32, as the instruction does
    if (counters && out[i] !== exact) counters.overflows++;
  }
  return out;
}

function dotWrap(what: string, a: ArrayLike<number>, b: ArrayLike<number>, counters?: FixedCounters): number {
  if (a.length !== b.length) throw new RangeError(`${what}: a.length = ${a.length} but b.length = ${b.length}: they must be equal`);
  if (a.length > MAX_DOT_LENGTH) throw new RangeError(`${what}: length ${a.length} > ${MAX_DOT_LENGTH}: split the dot product`);
  let exact = 0;
  for (let i = 0; i < a.length; i++) exact += Math.imul(a[i], b[i]);
  const wrapped = exact | 0;
  if (counters && wrapped !== exact) counters.overflows++;
  return wrapped;
}

/** Σ a[i]·b[i] mod 2^32 as int32: what any kernel built from dot_i16x8_s + i32x4.add returns. */
export const dotI16 = (a: Int16Array, b: Int16Array, counters?: FixedCounters): number => dotWrap('dotI16', a, b, counters);

/** int8 dot via sign extension to int16 (i16x8.extend_*_i8x16_s keeps values, so dotI16 applies). */
export const dotI8 = (a: Int8Array, b: Int8Array, counters?: FixedCounters): number => dotWrap('dotI8', a, b, counters);

/** i16x8.q15mulr_sat_s lane: (a·b + 0x4000) >> 15, saturated; only (−32768)² saturates. */
export function q15MulrSat(a: number, b: number, counters: FixedCounters): number {
  checkInt('a', a, 16);
  checkInt('b', b, 16);
  const v = (Math.imul(a, b) + 0x4000) >> 15; // ≤ 2^30 + 2^14: stays int32
  if (v > 32767) { counters.saturations++; return 32767; }
  return v;
}

/**
 * Integer accumulator with `accFrac` fraction bits → `out`: shift right by s = accFrac − out.frac
 * with `rounding` (decided in integers from the s discarded bits), then saturate; s ≤ 0 is a
 * saturating left shift. `acc` may be any safe integer (int32 takes the fast path).
 */
export function requantize(acc: number, accFrac: number, out: QFormat, rounding: Rounding, counters: FixedCounters, rng?: Pcg32): number {
  checkFormat(out, 'out');
  checkFrac('accFrac', accFrac);
  checkRounding(rounding, rng);
  if (!Number.isSafeInteger(acc)) throw new RangeError(`acc = ${acc}: must be a safe integer (an integer accumulator)`);
  const r = rounding === 'stochastic' ? rng!.nextU32() : 0; // one draw per call, as in quantize
  const s = accFrac - out.frac;
  if (s <= 0) return saturate(acc * 2 ** -s, out, counters); // exact: |acc·2^k| ≤ 2^181, no rounding
  if (s <= 31 && (acc | 0) === acc) {
    const q = acc >> s, rem = (acc & (0xffffffff >>> (32 - s))) >>> 0, half = 1 << (s - 1);
    let up = false;
    if (rounding === 'nearest-even') up = rem > half || (rem === half && (q & 1) === 1);
    else if (rounding === 'stochastic') up = r >>> (32 - s) < rem; // ⇔ r < rem·2^(32−s)
    return saturate(q + (up ? 1 : 0), out, counters);
  }
  // Wider accumulators or shifts of 32+ bits: the same rule in BigInt (>> on BigInt floors).
  const A = BigInt(acc), S = BigInt(s);
  const q = A >> S, rem = A - (q << S), half = 1n << (S - 1n);
  let up = false;
  if (rounding === 'nearest-even') up = rem > half || (rem === half && (q & 1n) === 1n);
  else if (rounding === 'stochastic') up = BigInt(r) << S < rem << 32n;
  return saturate(Number(q) + (up ? 1 : 0), out, counters);
}
