// Fixed-point integer kernels: int16 dot product, int32 → int16 requantisation, Q15 rounding multiply.
// Each must match hw-sim/fixed-point.ts bit for bit (dotI16, requantize, q15MulrSat), on every flavour:
// - dotI16: wrapping int32 adds are associative mod 2^32, so the SIMD lane sums (dot_i16x8_s, whose
//   only wrap is (−32768)²·2) plus the scalar tail give the exact dot product mod 2^32.
// - requantI32ToI16: the rounding decision is made in integers from the discarded bits, as in
//   hw-sim's int32 fast path; saturation to int16 in SIMD is i16x8.narrow_i32x4_s (a signed clamp).
// - q15MulrSatI16: (a·b + 0x4000) >> 15 fits int32; only (−32768)² exceeds 32767 and saturates.
// Kernels trust their inputs: addresses need no alignment, n ≥ 0, 1 ≤ shift ≤ 31.

/** Values of requantI32ToI16's `mode`: hw-sim's 'nearest-even' and 'truncate'. */
// @ts-ignore: decorator
@inline const REQUANT_NEAREST_EVEN = 0;
// @ts-ignore: decorator
@inline const REQUANT_TRUNCATE = 1;

/** Σ a[i]·b[i] over n int16 elements, accumulated in int32 with wrap-around (mod 2^32). */
export function dotI16(a: usize, b: usize, n: i32): i32 {
  let i = 0;
  let sum: i32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = i32x4.splat(0);
    for (; i + 8 <= n; i += 8) {
      const p = <usize>i << 1;
      acc = i32x4.add(acc, i32x4.dot_i16x8_s(v128.load(a + p), v128.load(b + p)));
    }
    sum = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1)
      + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
  }
  for (; i < n; i++) {
    const p = <usize>i << 1;
    sum += <i32>load<i16>(a + p) * <i32>load<i16>(b + p); // |product| ≤ 2^30; the add wraps
  }
  return sum;
}

/**
 * out[i] = sat16(round(acc[i] / 2^shift)) for n int32 accumulators, 1 ≤ shift ≤ 31.
 * mode REQUANT_NEAREST_EVEN (0): nearest, ties to even; REQUANT_TRUNCATE (1, or any mode ≠ 0): toward −∞
 * (an arithmetic shift). Equals hw-sim requantize(acc, shift, {bits: 16, frac: 0}, rounding).
 */
export function requantI32ToI16(out: usize, acc: usize, n: i32, shift: i32, mode: i32): void {
  const mask = (1 << shift) - 1; // the discarded bits; wraps to 0x7fffffff for shift = 31
  const half = 1 << (shift - 1);
  const nearest = mode == REQUANT_NEAREST_EVEN;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vMask = i32x4.splat(mask), vHalf = i32x4.splat(half), vOne = i32x4.splat(1);
    for (; i + 8 <= n; i += 8) {
      const src = acc + (<usize>i << 2);
      const vLo = v128.load(src), vHi = v128.load(src, 16);
      let lo = i32x4.shr_s(vLo, shift), hi = i32x4.shr_s(vHi, shift);
      if (nearest) {
        // rem and half lie in [0, 2^31), so signed compares are exact; true lanes are −1, so q − up.
        const rLo = v128.and(vLo, vMask), rHi = v128.and(vHi, vMask);
        const oddLo = v128.and(lo, vOne), oddHi = v128.and(hi, vOne);
        const upLo = v128.or(i32x4.gt_s(rLo, vHalf), v128.and(i32x4.eq(rLo, vHalf), i32x4.eq(oddLo, vOne)));
        const upHi = v128.or(i32x4.gt_s(rHi, vHalf), v128.and(i32x4.eq(rHi, vHalf), i32x4.eq(oddHi, vOne)));
        lo = i32x4.sub(lo, upLo); // q ≤ 2^30 − 1 for shift ≥ 1: no overflow
        hi = i32x4.sub(hi, upHi);
      }
      v128.store(out + (<usize>i << 1), i16x8.narrow_i32x4_s(lo, hi)); // saturating narrow
    }
  }
  for (; i < n; i++) {
    const v = load<i32>(acc + (<usize>i << 2));
    let q = v >> shift;
    if (nearest) {
      const rem = v & mask;
      if (rem > half || (rem == half && (q & 1) == 1)) q += 1;
    }
    if (q > 32767) q = 32767;
    else if (q < -32768) q = -32768;
    store<i16>(out + (<usize>i << 1), <i16>q);
  }
}

/** out[i] = sat16((a[i]·b[i] + 0x4000) >> 15) over n int16 pairs: i16x8.q15mulr_sat_s. */
export function q15MulrSatI16(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 8 <= n; i += 8) {
      const p = <usize>i << 1;
      v128.store(out + p, i16x8.q15mulr_sat_s(v128.load(a + p), v128.load(b + p)));
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 1;
    let v = (<i32>load<i16>(a + p) * <i32>load<i16>(b + p) + 0x4000) >> 15;
    if (v > 32767) v = 32767; // only (−32768)²; the minimum −32767 needs no clamp
    store<i16>(out + p, <i16>v);
  }
}
