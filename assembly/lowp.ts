// Low-precision training kernels (issue 13's int16 path): f32 → int16 quantisation with a
// power-of-two scale (nearest-even or stochastic rounding from the seeded PCG32 stream), and an
// int16 × int16 → int32 GEMM on i32x4.dot_i16x8_s whose result is rescaled into f32.
// Each equals hw-sim/fixed (quantize, dotI16) and hw-sim/fixed/lowp.ts bit for bit on every flavour:
// - quantI16: the rounding is decided in f64 exactly as hw-sim's quantize: y = x·2^frac (exact),
//   q = floor(y), f = y − q (exact); nearest-even: up iff f > ½ or (f = ½ and q odd); stochastic:
//   one u32 r per element drawn before anything else, up iff r < f·2^32. Then saturate to int16
//   (counted); NaN becomes 0. Elements are visited in x's row-major order, so the stream position
//   of every element is fixed whatever the layout written.
// - gemmI16: the int32 sums wrap (mod 2^32: any lane order gives the same bits, see fixed.ts), then
//   f32(acc)·scale in f32, then + C in f32 when accumulating. Callers pick operand scales so that
//   no sum wraps (hw-sim/fixed/lowp.ts operandBits); the wrap is the defined behaviour, not a plan.
// - packRowsI16Sr / packColsI16Sr: the training packers with stochastic rounding from counter-based
//   draws (GEMM_I16 mode bits; see "Stochastic rounding" below), SIMD like the nearest packers.
// Layout: A is [m × kp] int16 row-major (row stride lda), Bᵀ is [n × kp] (row stride ldb): both
// k-contiguous, which is what dot_i16x8_s wants; kp is a multiple of 8 with zeros past k.
import { rngNextU32 } from './rng';

/** Lanes 0, 1, 2, 3: four consecutive counters. */
// @ts-ignore: decorator
@inline function iota(): v128 { return i32x4(0, 1, 2, 3); }

// @ts-ignore: decorator
@inline function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/** Four nearest-even int16 values (as i32x4) of x·s, clamped: the SIMD form of q16 (see quantI16). */
// @ts-ignore: decorator
@inline function q16x4(x: v128, s: v128): v128 {
  // Clamped as integers: trunc_sat then one pminsd/pmaxsd each, where f32x4.min/max with wasm's NaN rules are ~7 x64 instructions.
  return i32x4.min_s(i32x4.max_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(x, s))), i32x4.splat(-32768)), i32x4.splat(32767));
}

// 1.5·2^23: for |y| < 2^22, the one rounding of y + ROUND_MAGIC (to nearest-even, f32 has no bits
// below 1 there) leaves round(y) in the low mantissa bits, so bits − ROUND_MAGIC_BITS is it as an
// i32. Three instructions instead of nearest, trunc_sat (a ~7-instruction sequence on x64) and the
// clamps; the packers took 2.6 ns per value with those, more than the int16 dot products saved.
const ROUND_MAGIC: f32 = 12582912.0;
const ROUND_MAGIC_BITS: i32 = 0x4b400000;
/** Whether every |x·s| of an operand whose largest |x| is m is below 2^22 (ROUND_MAGIC applies). */
// @ts-ignore: decorator
@inline function magicRange(m: f32, s: f32): bool { return m * s < 4194304.0; }

/** q16x4 for finite x with |x·s| < 2^22: the same values (saturation cannot occur below 2^15, see dynamicFrac). */
// @ts-ignore: decorator
@inline function q16x4Magic(x: v128, s: v128): v128 {
  return i32x4.sub(f32x4.add(f32x4.mul(x, s), f32x4.splat(ROUND_MAGIC)), i32x4.splat(ROUND_MAGIC_BITS));
}

// @ts-ignore: decorator
@inline function quantOne(x: f32, scale: f64, stochastic: bool, rng: usize): i32 {
  const r: u32 = stochastic ? rngNextU32(rng) : 0;
  if (isNaN<f32>(x)) return 0;
  const y = <f64>x * scale;
  let q = Math.floor(y);
  if (isFinite<f64>(y)) {
    const f = y - q;
    if (stochastic) {
      if (<f64>r < f * 4294967296.0) q += 1;
    } else if (f > 0.5 || f == 0.5) {
      // Parity only matters inside int16's range (outside, both neighbours saturate alike).
      const c = Math.min(Math.max(q, -65536.0), 65536.0);
      if (f > 0.5 || (<i32>c & 1) != 0) q += 1;
    }
  }
  return <i32>Math.min(Math.max(q, -32769.0), 32768.0); // ±1 past the range marks a saturation
}

/**
 * q = sat16(round(x · 2^frac)) for the rows × cols f32 block at x (row stride ldx). transpose false:
 * q[r·ldq + c]; true: q[c·ldq + r]. Each written row is zero-padded to ldq. stochastic: one PCG32
 * draw per element from `rng`, in x's row-major order. Returns how many values saturated.
 */
export function quantI16(q: usize, ldq: i32, x: usize, ldx: i32, rows: i32, cols: i32, transpose: bool,
                         frac: i32, stochastic: bool, rng: usize): i32 {
  const scale = Math.pow(2.0, <f64>frac);
  let saturated = 0;
  for (let r = 0; r < rows; r++) {
    let c = 0;
    if (ASC_FEATURE_SIMD && !stochastic) {
      // Nearest-even in f32x4: x·2^frac is exact in f32 too (a power of two; an overflow is ±∞ and
      // saturates either way, an underflow rounds to 0 either way), f32x4.nearest is ties-to-even,
      // and trunc_sat maps NaN to 0: the f64 rule's bits, four at a time.
      const vs = f32x4.splat(<f32>scale), hi = f32x4.splat(32767.0), lo = f32x4.splat(-32768.0);
      let vsat = i32x4.splat(0);
      for (; c + 4 <= cols; c += 4) {
        const xv = v128.load(x + ((<usize>r * ldx + c) << 2));
        const y = f32x4.nearest(f32x4.mul(xv, vs));
        vsat = i32x4.sub(vsat, v128.or(f32x4.gt(y, hi), f32x4.lt(y, lo)));
        const v = q16x4(xv, vs);
        if (transpose) {
          store<i16>(q + ((<usize>c * ldq + r) << 1), <i16>i32x4.extract_lane(v, 0));
          store<i16>(q + ((<usize>(c + 1) * ldq + r) << 1), <i16>i32x4.extract_lane(v, 1));
          store<i16>(q + ((<usize>(c + 2) * ldq + r) << 1), <i16>i32x4.extract_lane(v, 2));
          store<i16>(q + ((<usize>(c + 3) * ldq + r) << 1), <i16>i32x4.extract_lane(v, 3));
        } else {
          v128.store64_lane(q + ((<usize>r * ldq + c) << 1), i16x8.narrow_i32x4_s(v, v), 0);
        }
      }
      saturated += hsum(vsat);
    }
    for (; c < cols; c++) {
      let v = quantOne(load<f32>(x + ((<usize>r * ldx + c) << 2)), scale, stochastic, rng);
      if (v > 32767) { v = 32767; saturated++; } else if (v < -32768) { v = -32768; saturated++; }
      const at = transpose ? <usize>c * ldq + r : <usize>r * ldq + c;
      store<i16>(q + (at << 1), <i16>v);
    }
  }
  // Zero padding past the written length of every output row.
  const outRows = transpose ? cols : rows, len = transpose ? rows : cols;
  if (ldq > len) for (let r = 0; r < outRows; r++) memory.fill(q + ((<usize>r * ldq + len) << 1), 0, <usize>(ldq - len) << 1);
  return saturated;
}

/**
 * Largest |x| over n floats, NaN if any x is NaN (f32x4.max and the scalar test propagate it) and
 * ∞ if any is ±∞: one pass gives the packers both their scale and their finiteness test.
 */
// @ts-ignore: decorator
@inline function maxAbsStrict(x: usize, n: i32): f32 {
  let m: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // pmax is one maxps (f32x4.max's NaN rule is ~7 x64 instructions); NaNs are caught by their own mask.
    let vm = f32x4.splat(0), vnan = i32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      vm = f32x4.pmax(vm, f32x4.abs(v));
      vnan = v128.or(vnan, f32x4.ne(v, v));
    }
    m = max(max(f32x4.extract_lane(vm, 0), f32x4.extract_lane(vm, 1)), max(f32x4.extract_lane(vm, 2), f32x4.extract_lane(vm, 3)));
    if (v128.any_true(vnan)) return NaN;
  }
  for (; i < n; i++) {
    const a = abs<f32>(load<f32>(x + (<usize>i << 2)));
    if (!(a <= m) && m == m) m = a; // takes a NaN, then keeps it
  }
  return m;
}

/** Largest |x| over n floats (NaN ignored), for choosing a power-of-two scale. */
export function maxAbsF32(x: usize, n: i32): f32 {
  let m: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let vm = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) vm = f32x4.pmax(vm, f32x4.abs(v128.load(x + (<usize>i << 2))));
    m = max(max(f32x4.extract_lane(vm, 0), f32x4.extract_lane(vm, 1)), max(f32x4.extract_lane(vm, 2), f32x4.extract_lane(vm, 3)));
  }
  for (; i < n; i++) {
    const a = abs<f32>(load<f32>(x + (<usize>i << 2)));
    if (a > m) m = a;
  }
  return m;
}

// @ts-ignore: decorator
@inline function put(c: usize, acc: i32, scale: f32, accumulate: bool): void {
  const v = <f32>acc * scale;
  store<f32>(c, accumulate ? load<f32>(c) + v : v);
}

/** [Σ lanes of w, x, y, z] (i32x4 each). */
// @ts-ignore: decorator
@inline function hsum4(w: v128, x: v128, y: v128, z: v128): v128 {
  const wx = i32x4.add(v128.shuffle<i32>(w, x, 0, 4, 1, 5), v128.shuffle<i32>(w, x, 2, 6, 3, 7)); // w0+w2 x0+x2 w1+w3 x1+x3
  const yz = i32x4.add(v128.shuffle<i32>(y, z, 0, 4, 1, 5), v128.shuffle<i32>(y, z, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(wx, yz, 0, 1, 4, 5), v128.shuffle<i32>(wx, yz, 2, 3, 6, 7));
}

/** put for four consecutive entries: each lane's f32(acc)·scale, the same rounding as put's. */
// @ts-ignore: decorator
@inline function put4(c: usize, acc: v128, scale: v128, accumulate: bool): void {
  const v = f32x4.mul(f32x4.convert_i32x4_s(acc), scale);
  v128.store(c, accumulate ? f32x4.add(v128.load(c), v) : v);
}

/** One C entry: the dot product of an A row and a Bᵀ row over kp int16 (scalar tail for kp % 8). */
// @ts-ignore: decorator
@inline function dotRow(a: usize, b: usize, kp: i32): i32 {
  let i = 0, s: i32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = i32x4.splat(0);
    for (; i + 8 <= kp; i += 8) acc = i32x4.add(acc, i32x4.dot_i16x8_s(v128.load(a + (<usize>i << 1)), v128.load(b + (<usize>i << 1))));
    s = hsum(acc);
  }
  for (; i < kp; i++) s += <i32>load<i16>(a + (<usize>i << 1)) * <i32>load<i16>(b + (<usize>i << 1));
  return s;
}

/**
 * C[m × n] (row stride ldc, f32) = (accumulate ? C : 0) + scale · (A · B) with A [m × kp] and
 * Bᵀ [n × kp] int16 (see the header); 2 × 4 tiles of C with eight i32x4 accumulators.
 */
export function gemmI16(c: usize, ldc: i32, a: usize, lda: i32, bt: usize, ldb: i32, m: i32, n: i32, kp: i32,
                        scale: f32, accumulate: bool): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vscale = f32x4.splat(scale);
    for (; i + 2 <= m; i += 2) {
      const a0 = a + ((<usize>i * lda) << 1), a1 = a0 + (<usize>lda << 1);
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        const b0 = bt + ((<usize>j * ldb) << 1), b1 = b0 + (<usize>ldb << 1), b2 = b1 + (<usize>ldb << 1), b3 = b2 + (<usize>ldb << 1);
        let c00 = i32x4.splat(0), c01 = i32x4.splat(0), c02 = i32x4.splat(0), c03 = i32x4.splat(0);
        let c10 = i32x4.splat(0), c11 = i32x4.splat(0), c12 = i32x4.splat(0), c13 = i32x4.splat(0);
        let k = 0;
        for (; k + 8 <= kp; k += 8) {
          const o = <usize>k << 1;
          const x0 = v128.load(a0 + o), x1 = v128.load(a1 + o);
          const y0 = v128.load(b0 + o), y1 = v128.load(b1 + o), y2 = v128.load(b2 + o), y3 = v128.load(b3 + o);
          c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, y0)); c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, y1));
          c02 = i32x4.add(c02, i32x4.dot_i16x8_s(x0, y2)); c03 = i32x4.add(c03, i32x4.dot_i16x8_s(x0, y3));
          c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, y0)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, y1));
          c12 = i32x4.add(c12, i32x4.dot_i16x8_s(x1, y2)); c13 = i32x4.add(c13, i32x4.dot_i16x8_s(x1, y3));
        }
        // Each row's four dot products summed across lanes at once (int32 sums are exact, so the
        // order does not matter), then rescaled and stored as one f32x4: a scalar horizontal sum
        // and store per entry cost about as much as a 128-long dot product's loop.
        let s0 = hsum4(c00, c01, c02, c03), s1 = hsum4(c10, c11, c12, c13);
        for (; k < kp; k++) {
          const o = <usize>k << 1;
          const x0 = i32x4.splat(<i32>load<i16>(a0 + o)), x1 = i32x4.splat(<i32>load<i16>(a1 + o));
          const y = i32x4(<i32>load<i16>(b0 + o), <i32>load<i16>(b1 + o), <i32>load<i16>(b2 + o), <i32>load<i16>(b3 + o));
          s0 = i32x4.add(s0, i32x4.mul(x0, y)); s1 = i32x4.add(s1, i32x4.mul(x1, y));
        }
        const r0 = c + ((<usize>i * ldc + j) << 2), r1 = r0 + (<usize>ldc << 2);
        put4(r0, s0, vscale, accumulate); put4(r1, s1, vscale, accumulate);
      }
      for (; j < n; j++) {
        const b0 = bt + ((<usize>j * ldb) << 1);
        put(c + ((<usize>i * ldc + j) << 2), dotRow(a0, b0, kp), scale, accumulate);
        put(c + ((<usize>(i + 1) * ldc + j) << 2), dotRow(a1, b0, kp), scale, accumulate);
      }
    }
  }
  for (; i < m; i++) {
    const a0 = a + ((<usize>i * lda) << 1);
    for (let j = 0; j < n; j++) put(c + ((<usize>i * ldc + j) << 2), dotRow(a0, bt + ((<usize>j * ldb) << 1), kp), scale, accumulate);
  }
}

// ---- The training GEMM op's int16 path (assembly/tn.ts TN_GEMM_I16) ----

/**
 * What the packers return when an operand holds NaN or ±∞: int16 has no such values, and a GEMM
 * that hid them would let a diverged step look finite to the trainer's guard; the op writes NaN.
 */
export const NONFINITE: i32 = 0x7fffffff;

/** Bits per operand so that k products cannot wrap int32: the largest b ≤ 16 with k·4^(b−1) < 2^31 (hw-sim operandBits). */
export function operandBits(k: i32): i32 {
  let b = 16;
  while (b > 1 && (<u64>k << (<u64>(2 * (b - 1)))) >= 0x80000000) b--;
  return b;
}

/** hw-sim dynamicFrac: the largest frac with maxAbs·2^frac < 2^(bits−1), in [−64, 64]; 0 for 0, NaN, ∞. */
export function dynamicFrac(maxAbs: f32, bits: i32): i32 {
  if (!(maxAbs > 0) || !isFinite<f32>(maxAbs)) return 0;
  const u = reinterpret<u32>(maxAbs);
  const ex = <i32>((u >> 23) & 0xff);
  const e = ex != 0 ? ex - 127 : 31 - <i32>clz<u32>(u & 0x7fffff) - 149; // ⌊log2⌋, subnormals too
  return min(64, max(-64, bits - 2 - e));
}

// @ts-ignore: decorator
@inline function q16(x: f32, s: f32): i16 {
  if (isNaN<f32>(x)) return 0;
  return <i16><i32>min<f32>(max<f32>(nearest<f32>(x * s), -32768.0), 32767.0);
}

/**
 * Whether the elements i·s0 + j·s1 + l·s2 (i < n0, j < n1, l < n2; floats) are exactly the range
 * [0, n0·n1·n2): then the largest |x| is one contiguous SIMD pass instead of one per short run (a
 * reduction over k = 1 read k at a time was a quarter of an int16 TR step). Axes of extent 1 do
 * not count; the others, by increasing stride, must each step over the ones before.
 */
function dense3(s0: i32, n0: i32, s1: i32, n1: i32, s2: i32, n2: i32): bool {
  // Sort the three (stride, extent) pairs by stride, extent-1 axes last.
  let a0 = n0 > 1 ? s0 : i32.MAX_VALUE, a1 = n1 > 1 ? s1 : i32.MAX_VALUE, a2 = n2 > 1 ? s2 : i32.MAX_VALUE;
  let e0 = n0, e1 = n1, e2 = n2;
  if (a1 < a0) { const x = a0; a0 = a1; a1 = x; const y = e0; e0 = e1; e1 = y; }
  if (a2 < a1) { const x = a1; a1 = a2; a2 = x; const y = e1; e1 = e2; e2 = y; }
  if (a1 < a0) { const x = a0; a0 = a1; a1 = x; const y = e0; e0 = e1; e1 = y; }
  let span: i32 = 1;
  if (a0 != i32.MAX_VALUE) { if (a0 != 1) return false; span = e0; }
  if (a1 != i32.MAX_VALUE) { if (a1 != span) return false; span *= e1; }
  if (a2 != i32.MAX_VALUE) { if (a2 != span) return false; }
  return true;
}

/** Largest |x| of A's t blocks (rows × k, read as packRowsI16 does); NaN if any is NaN, ∞ if any is ±∞. */
function rowsMaxAbs(a: usize, sai: i32, sak: i32, strideA: i32, rows: i32, k: i32, t: i32): f32 {
  if (dense3(sai, rows, sak, k, strideA, t)) return maxAbsStrict(a, rows * k * t);
  let m: f32 = 0;
  for (let r = 0; r < rows; r++) for (let tt = 0; tt < t; tt++) {
    const src = a + ((<usize>tt * strideA + <usize>r * sai) << 2);
    if (sak == 1) { m = max<f32>(m, maxAbsStrict(src, k)); continue; }
    for (let kk = 0; kk < k; kk++) {
      const v = abs<f32>(load<f32>(src + ((<usize>kk * sak) << 2)));
      if (!(v <= m) && m == m) m = v; // takes a NaN, then keeps it (max<f32> propagates it too)
    }
  }
  return m;
}

/** Largest |x| of B's t blocks (k × n, row stride ldb), as rowsMaxAbs. */
function colsMaxAbs(b: usize, ldb: i32, strideB: i32, n: i32, k: i32, t: i32): f32 {
  if (dense3(1, n, ldb, k, strideB, t)) return maxAbsStrict(b, n * k * t);
  let m: f32 = 0;
  for (let tt = 0; tt < t; tt++) for (let kk = 0; kk < k; kk++) m = max<f32>(m, maxAbsStrict(b + ((<usize>tt * strideB + <usize>kk * ldb) << 2), n));
  return m;
}

/**
 * A's t blocks side by side as int16 rows of kp (zero-padded): q[r][tt·k + kk] = A_tt[r, kk], read
 * at a + tt·strideA + r·sai + kk·sak (floats), at the frac its largest |x| and `bits` give,
 * nearest-even. Returns the frac (NONFINITE for a NaN or ±∞ operand).
 */
export function packRowsI16(q: usize, kp: i32, a: usize, sai: i32, sak: i32, strideA: i32, rows: i32, k: i32, t: i32, bits: i32, cnt: usize): i32 {
  return packRows(q, kp, a, sai, sak, strideA, rows, k, t, bits, cnt, false, 0, 0);
}

/** packRowsI16 with stochastic rounding (GEMM_I16 mode bit 0): element e = r·kt + tt·k + kk draws srDraw(e, k0, k1). */
export function packRowsI16Sr(q: usize, kp: i32, a: usize, sai: i32, sak: i32, strideA: i32, rows: i32, k: i32, t: i32, bits: i32, k0: u32, k1: u32, cnt: usize): i32 {
  return packRows(q, kp, a, sai, sak, strideA, rows, k, t, bits, cnt, true, k0, k1);
}

// @ts-ignore: decorator
@inline function packRows(q: usize, kp: i32, a: usize, sai: i32, sak: i32, strideA: i32, rows: i32, k: i32, t: i32, bits: i32, cnt: usize,
                          sr: bool, k0: u32, k1: u32): i32 {
  const m = rowsMaxAbs(a, sai, sak, strideA, rows, k, t);
  if (!isFinite<f32>(m)) return NONFINITE;
  const frac = dynamicFrac(m, bits), s = <f32>Math.pow(2.0, <f64>frac), magic = magicRange(m, s);
  const kt = k * t;
  let flushed = 0;
  for (let r = 0; r < rows; r++) {
    const row = q + ((<usize>r * kp) << 1);
    for (let tt = 0; tt < t; tt++) {
      const src = a + ((<usize>tt * strideA + <usize>r * sai) << 2), dst = row + (<usize>(tt * k) << 1);
      const e0 = <u32>(r * kt + tt * k); // this run's first element index (the draws' counter)
      let kk = 0;
      if (ASC_FEATURE_SIMD && (sak == 1 || sr)) {
        const vs = f32x4.splat(s), vk0 = i32x4.splat(<i32>k0), vk1 = i32x4.splat(<i32>k1);
        let vflushed = i32x4.splat(0); // −1 per flushed value
        for (; kk + 8 <= k; kk += 8) {
          const at = src + (<usize>kk << 2);
          const x0 = sak == 1 ? v128.load(at) : gather4(at, sak), x1 = sak == 1 ? v128.load(at, 16) : gather4(at + (<usize>(4 * sak) << 2), sak);
          let q0: v128, q1: v128;
          if (sr) {
            const e = i32x4.add(i32x4.splat(<i32>(e0 + <u32>kk)), iota());
            q0 = sr16x4(x0, vs, srDraw4(e, vk0, vk1), magic);
            q1 = sr16x4(x1, vs, srDraw4(i32x4.add(e, i32x4.splat(4)), vk0, vk1), magic);
          } else {
            q0 = magic ? q16x4Magic(x0, vs) : q16x4(x0, vs); q1 = magic ? q16x4Magic(x1, vs) : q16x4(x1, vs);
          }
          vflushed = i32x4.add(vflushed, flushedLanes(q0, x0));
          vflushed = i32x4.add(vflushed, flushedLanes(q1, x1));
          v128.store(dst + (<usize>kk << 1), i16x8.narrow_i32x4_s(q0, q1));
        }
        flushed -= hsum(vflushed);
      }
      for (; kk < k; kk++) {
        const x = load<f32>(src + ((<usize>kk * sak) << 2));
        const v = sr ? sr16(x, s, srDraw(e0 + <u32>kk, k0, k1)) : q16(x, s);
        if (v == 0 && x != 0) flushed++;
        store<i16>(dst + (<usize>kk << 1), v);
      }
    }
    if (kp > kt) memory.fill(row + (<usize>kt << 1), 0, <usize>(kp - kt) << 1);
  }
  addCounts(cnt, rows * kt, flushed);
  return frac;
}

/** Four floats at x, x + stride, x + 2·stride, x + 3·stride (floats). */
// @ts-ignore: decorator
@inline function gather4(x: usize, stride: i32): v128 {
  const st = <usize>stride << 2;
  let v = f32x4.splat(load<f32>(x));
  v = f32x4.replace_lane(v, 1, load<f32>(x + st));
  v = f32x4.replace_lane(v, 2, load<f32>(x + 2 * st));
  return f32x4.replace_lane(v, 3, load<f32>(x + 3 * st));
}

/** B's t blocks [k × n] (row stride ldb, block stride strideB) transposed into int16 rows of kp: q[j][tt·k + kk] = B_tt[kk, j], nearest-even. */
export function packColsI16(q: usize, kp: i32, b: usize, ldb: i32, strideB: i32, n: i32, k: i32, t: i32, bits: i32, cnt: usize): i32 {
  return packCols(q, kp, b, ldb, strideB, n, k, t, bits, cnt, false, 0, 0);
}

/** packColsI16 with stochastic rounding (mode bit 1): element e = j·kt + tt·k + kk draws srDraw(e, k0, k1). */
export function packColsI16Sr(q: usize, kp: i32, b: usize, ldb: i32, strideB: i32, n: i32, k: i32, t: i32, bits: i32, k0: u32, k1: u32, cnt: usize): i32 {
  return packCols(q, kp, b, ldb, strideB, n, k, t, bits, cnt, true, k0, k1);
}

/**
 * packColsI16's columns [j0, j1) only, into rows j0..j1 of q, at the frac of all n columns (each
 * of several jobs scans the whole of B, then packs its own columns: the bits of one packColsI16).
 */
export function packColsRangeI16(q: usize, kp: i32, b: usize, ldb: i32, strideB: i32, n: i32, k: i32, t: i32, bits: i32, j0: i32, j1: i32, cnt: usize): i32 {
  return packColsRange(q, kp, b, ldb, strideB, n, k, t, bits, j0, j1, cnt, false, 0, 0);
}

/**
 * packColsRangeI16 with stochastic rounding: element e = j·kt + tt·k + kk of all n columns draws
 * srDraw(e, k0, k1), so the jobs packing a B in ranges draw what one packColsI16Sr would.
 */
export function packColsRangeI16Sr(q: usize, kp: i32, b: usize, ldb: i32, strideB: i32, n: i32, k: i32, t: i32, bits: i32, j0: i32, j1: i32, k0: u32, k1: u32, cnt: usize): i32 {
  return packColsRange(q, kp, b, ldb, strideB, n, k, t, bits, j0, j1, cnt, true, k0, k1);
}

// @ts-ignore: decorator
@inline function packColsRange(q: usize, kp: i32, b: usize, ldb: i32, strideB: i32, n: i32, k: i32, t: i32, bits: i32, j0: i32, j1: i32, cnt: usize,
                               sr: bool, k0: u32, k1: u32): i32 {
  const m = colsMaxAbs(b, ldb, strideB, n, k, t);
  if (!isFinite<f32>(m)) return NONFINITE;
  const frac = dynamicFrac(m, bits);
  packColsAt(q + ((<usize>j0 * kp) << 1), kp, b + (<usize>j0 << 2), ldb, strideB, j1 - j0, k, t, m, frac, cnt, sr, k0, k1, j0 * k * t);
  return frac;
}

// @ts-ignore: decorator
@inline function packCols(q: usize, kp: i32, b: usize, ldb: i32, strideB: i32, n: i32, k: i32, t: i32, bits: i32, cnt: usize,
                          sr: bool, k0: u32, k1: u32): i32 {
  const m = colsMaxAbs(b, ldb, strideB, n, k, t);
  if (!isFinite<f32>(m)) return NONFINITE;
  const frac = dynamicFrac(m, bits);
  packColsAt(q, kp, b, ldb, strideB, n, k, t, m, frac, cnt, sr, k0, k1, 0);
  return frac;
}

/**
 * packCols after its scan: n columns at the frac of a B whose largest |x| is m. Element (j, r)
 * draws with counter e0 + j·kt + r (e0: the first column's, when these are some columns of a B).
 */
// @ts-ignore: decorator
@inline function packColsAt(q: usize, kp: i32, b: usize, ldb: i32, strideB: i32, n: i32, k: i32, t: i32, m: f32, frac: i32, cnt: usize,
                            sr: bool, k0: u32, k1: u32, e0: i32): void {
  const s = <f32>Math.pow(2.0, <f64>frac), magic = magicRange(m, s);
  const rowBytes = <usize>kp << 1;
  let flushed = 0;
  // B's rows in order r = tt·k + kk (block tt, row kk) are the packed rows' k index.
  const kt = k * t;
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    r = kt & ~7; // whole groups of 8 rows transposed in registers, the rest row by row below
    flushed += packCols8(q, rowBytes, b, ldb, strideB, n, k, kt, s, r, sr, k0, k1, magic, e0);
  }
  for (; r < kt; r++) {
    const tt = r / k, kk = r % k;
    const row = b + ((<usize>tt * strideB + <usize>kk * ldb) << 2), col = q + (<usize>r << 1);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      // Element (j, r)'s counter is j·kt + r: four columns are four counters kt apart.
      const vs = f32x4.splat(s), vk0 = i32x4.splat(<i32>k0), vk1 = i32x4.splat(<i32>k1), colStep = i32x4.mul(iota(), i32x4.splat(kt));
      let vflushed = i32x4.splat(0);
      for (; j + 4 <= n; j += 4) {
        const x = v128.load(row + (<usize>j << 2));
        const v = sr ? sr16x4(x, vs, srDraw4(i32x4.add(i32x4.splat(e0 + j * kt + r), colStep), vk0, vk1), magic) : magic ? q16x4Magic(x, vs) : q16x4(x, vs);
        vflushed = i32x4.add(vflushed, flushedLanes(v, x));
        const at = col + <usize>j * rowBytes;
        store<i16>(at, <i16>i32x4.extract_lane(v, 0));
        store<i16>(at + rowBytes, <i16>i32x4.extract_lane(v, 1));
        store<i16>(at + 2 * rowBytes, <i16>i32x4.extract_lane(v, 2));
        store<i16>(at + 3 * rowBytes, <i16>i32x4.extract_lane(v, 3));
      }
      flushed -= hsum(vflushed);
    }
    for (; j < n; j++) {
      const x = load<f32>(row + (<usize>j << 2));
      const v = sr ? sr16(x, s, srDraw(<u32>(e0 + j * kt + r), k0, k1)) : q16(x, s);
      if (v == 0 && x != 0) flushed++;
      store<i16>(col + <usize>j * rowBytes, v);
    }
  }
  if (kp > kt) for (let j = 0; j < n; j++) memory.fill(q + ((<usize>j * kp + kt) << 1), 0, <usize>(kp - kt) << 1);
  addCounts(cnt, n * kt, flushed);
}

/**
 * packCols' first r8 rows r = tt·k + kk (r8 a multiple of 8): 8 rows × 4 columns at a time,
 * quantised, narrowed and transposed in registers, so each column gets one 16-byte store of 8
 * consecutive k instead of eight 2-byte stores a row apart (that strided pack took a third of an
 * int16 step). Row r of column j goes to q + j·rowBytes + r·2. Returns the flushed count.
 */
// @ts-ignore: decorator
@inline function packCols8(q: usize, rowBytes: usize, b: usize, ldb: i32, strideB: i32, n: i32, k: i32, kt: i32, s: f32, r8: i32,
                           sr: bool, k0: u32, k1: u32, magic: bool, e0: i32): i32 {
  let flushed = 0;
  const vs = f32x4.splat(s), vk0 = i32x4.splat(<i32>k0), vk1 = i32x4.splat(<i32>k1), colStep = i32x4.mul(iota(), i32x4.splat(kt));
  for (let g = 0; g < r8; g += 8) {
    // Rows g..g+7 of the t blocks seen as one column of rows (a group may straddle blocks).
    const a0 = rowAt(b, ldb, strideB, k, g), a1 = rowAt(b, ldb, strideB, k, g + 1), a2 = rowAt(b, ldb, strideB, k, g + 2), a3 = rowAt(b, ldb, strideB, k, g + 3);
    const a4 = rowAt(b, ldb, strideB, k, g + 4), a5 = rowAt(b, ldb, strideB, k, g + 5), a6 = rowAt(b, ldb, strideB, k, g + 6), a7 = rowAt(b, ldb, strideB, k, g + 7);
    const colBase = q + (<usize>g << 1);
    let vflushed = i32x4.splat(0);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j << 2;
      const x0 = v128.load(a0 + o), x1 = v128.load(a1 + o), x2 = v128.load(a2 + o), x3 = v128.load(a3 + o);
      const x4 = v128.load(a4 + o), x5 = v128.load(a5 + o), x6 = v128.load(a6 + o), x7 = v128.load(a7 + o);
      let v0: v128, v1: v128, v2: v128, v3: v128, v4: v128, v5: v128, v6: v128, v7: v128;
      if (sr) {
        // Lane l of row g + rr is element (j + l, g + rr): counter (j + l)·kt + g + rr.
        const e = i32x4.add(i32x4.splat(e0 + j * kt + g), colStep), one = i32x4.splat(1);
        const e1 = i32x4.add(e, one), e2 = i32x4.add(e1, one), e3 = i32x4.add(e2, one), e4 = i32x4.add(e3, one);
        const e5 = i32x4.add(e4, one), e6 = i32x4.add(e5, one), e7 = i32x4.add(e6, one);
        v0 = sr16x4(x0, vs, srDraw4(e, vk0, vk1), magic); v1 = sr16x4(x1, vs, srDraw4(e1, vk0, vk1), magic);
        v2 = sr16x4(x2, vs, srDraw4(e2, vk0, vk1), magic); v3 = sr16x4(x3, vs, srDraw4(e3, vk0, vk1), magic);
        v4 = sr16x4(x4, vs, srDraw4(e4, vk0, vk1), magic); v5 = sr16x4(x5, vs, srDraw4(e5, vk0, vk1), magic);
        v6 = sr16x4(x6, vs, srDraw4(e6, vk0, vk1), magic); v7 = sr16x4(x7, vs, srDraw4(e7, vk0, vk1), magic);
      } else if (magic) {
        v0 = q16x4Magic(x0, vs); v1 = q16x4Magic(x1, vs); v2 = q16x4Magic(x2, vs); v3 = q16x4Magic(x3, vs);
        v4 = q16x4Magic(x4, vs); v5 = q16x4Magic(x5, vs); v6 = q16x4Magic(x6, vs); v7 = q16x4Magic(x7, vs);
      } else {
        v0 = q16x4(x0, vs); v1 = q16x4(x1, vs); v2 = q16x4(x2, vs); v3 = q16x4(x3, vs);
        v4 = q16x4(x4, vs); v5 = q16x4(x5, vs); v6 = q16x4(x6, vs); v7 = q16x4(x7, vs);
      }
      vflushed = i32x4.add(vflushed, i32x4.add(i32x4.add(flushedLanes(v0, x0), flushedLanes(v1, x1)), i32x4.add(flushedLanes(v2, x2), flushedLanes(v3, x3))));
      vflushed = i32x4.add(vflushed, i32x4.add(i32x4.add(flushedLanes(v4, x4), flushedLanes(v5, x5)), i32x4.add(flushedLanes(v6, x6), flushedLanes(v7, x7))));
      // a01 = [row0 cols 0..3, row1 cols 0..3] (i16), …; b0 = rows 0..3 of columns 0 and 1, b1 of 2 and 3.
      const a01 = i16x8.narrow_i32x4_s(v0, v1), a23 = i16x8.narrow_i32x4_s(v2, v3);
      const a45 = i16x8.narrow_i32x4_s(v4, v5), a67 = i16x8.narrow_i32x4_s(v6, v7);
      const b0 = v128.shuffle<i16>(a01, a23, 0, 4, 8, 12, 1, 5, 9, 13), b1 = v128.shuffle<i16>(a01, a23, 2, 6, 10, 14, 3, 7, 11, 15);
      const c0 = v128.shuffle<i16>(a45, a67, 0, 4, 8, 12, 1, 5, 9, 13), c1 = v128.shuffle<i16>(a45, a67, 2, 6, 10, 14, 3, 7, 11, 15);
      const at = colBase + <usize>j * rowBytes;
      v128.store(at, v128.shuffle<i64>(b0, c0, 0, 2));
      v128.store(at + rowBytes, v128.shuffle<i64>(b0, c0, 1, 3));
      v128.store(at + 2 * rowBytes, v128.shuffle<i64>(b1, c1, 0, 2));
      v128.store(at + 3 * rowBytes, v128.shuffle<i64>(b1, c1, 1, 3));
    }
    flushed -= hsum(vflushed);
    for (; j < n; j++) {
      for (let r = 0; r < 8; r++) {
        const x = load<f32>(rowAt(b, ldb, strideB, k, g + r) + (<usize>j << 2));
        const v = sr ? sr16(x, s, srDraw(<u32>(e0 + j * kt + g + r), k0, k1)) : q16(x, s);
        if (v == 0 && x != 0) flushed++;
        store<i16>(colBase + <usize>j * rowBytes + (<usize>r << 1), v);
      }
    }
  }
  return flushed;
}

/** Address of row r = tt·k + kk of B's t blocks (row stride ldb, block stride strideB floats). */
// @ts-ignore: decorator
@inline function rowAt(b: usize, ldb: i32, strideB: i32, k: i32, r: i32): usize {
  return b + ((<usize>(r / k) * strideB + <usize>(r % k) * ldb) << 2);
}

/** −1 in each lane whose value x is nonzero but quantised to q = 0 (i32x4 q, f32x4 x). */
// @ts-ignore: decorator
@inline function flushedLanes(q: v128, x: v128): v128 {
  return v128.and(i32x4.eq(q, i32x4.splat(0)), f32x4.ne(x, f32x4.splat(0)));
}

/**
 * The op's counters at cnt (0: none): u32 values quantised, u32 nonzero values that became 0 (a
 * gradient entry below half a step is lost to nearest rounding, kept in the mean by stochastic
 * rounding), u32 heads with a NaN or ±∞ operand. int16 saturation and int32 wrap-around cannot
 * happen with operandBits and dynamicFrac (a value at the largest |x| uses the top bit of `bits`
 * ≤ 16, and k·t such products fit int32), so they have no counter.
 */
// @ts-ignore: decorator
@inline export function addCounts(cnt: usize, values: i32, flushed: i32): void {
  if (cnt == 0) return;
  store<u32>(cnt, load<u32>(cnt) + <u32>values);
  store<u32>(cnt, load<u32>(cnt, 4) + <u32>flushed, 4);
}

// @ts-ignore: decorator
@inline function sat16(v: i32): i16 { return <i16>min(max(v, -32768), 32767); }

// ---- Stochastic rounding (GEMM_I16 mode bits): counter-based draws, f32 arithmetic ----
// Element e of an operand (its index in hw-sim's order, the packed layout without padding) draws
// srDraw(e, k0, k1), the op's keys for that head and operand (tn.ts, from the op's PCG32 stream).
// A counter-based draw is what lets the packers round four values at a time in any order and keep
// hw-sim's bits (a serial PCG32 draw per value made stochastic rounding cost +35 % of a step).
// The rule, all in f32 (exact where it matters: y = x·2^frac is exact unless it underflows, and
// y − ⌊y⌋ is rounded once, the same in f32 and in hw-sim's Math.fround):
//   y = x·s, f = y − ⌊y⌋, q = ⌊y⌋ + (draw >> 8 < f·2^24 ? 1 : 0), saturated to int16.
// P(up) = ⌈f·2^24⌉ / 2^24: unbiased to 2^−24 of a step.

/** Wellons' lowbias32 (a bijection of u32 with low bias on avalanche). */
// @ts-ignore: decorator
@inline function mix32(x: u32): u32 {
  x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; return x ^ (x >> 16);
}

// @ts-ignore: decorator
@inline function mix32x4(x: v128): v128 {
  x = v128.xor(x, i32x4.shr_u(x, 16)); x = i32x4.mul(x, i32x4.splat(0x7feb352d));
  x = v128.xor(x, i32x4.shr_u(x, 15)); x = i32x4.mul(x, i32x4.splat(<i32>0x846ca68b));
  return v128.xor(x, i32x4.shr_u(x, 16));
}

/**
 * Element e's draw under keys (k0, k1): mix32(e + k0) ^ k1, a bijection of e per key pair. One
 * lowbias32 round, not two: the draws of one operand are lowbias32 on consecutive counters from a
 * random start, which is what lowbias32 is built for, and the random k0 per op and step makes
 * every element's rounding unbiased over the keys (test/int16-train.test.ts checks uniformity and
 * correlations). A second round only cost: packRowsI16Sr on 128×784 ran at 1.41 ns/value with
 * two rounds, 0.99 with one (nearest-even 0.32: the int16 packing rows of `npm run bench`).
 */
// @ts-ignore: decorator
@inline export function srDraw(e: u32, k0: u32, k1: u32): u32 { return mix32(e + k0) ^ k1; }

// @ts-ignore: decorator
@inline function srDraw4(e: v128, k0: v128, k1: v128): v128 { return v128.xor(mix32x4(i32x4.add(e, k0)), k1); }

/** One value's stochastic rounding (the rule above) for a finite x with |x·s| < 2^15. */
// @ts-ignore: decorator
@inline function sr16(x: f32, s: f32, draw: u32): i16 {
  const y = x * s, fl = Mathf.floor(y);
  return sat16(<i32>fl + (<f32>(draw >> 8) < (y - fl) * 16777216.0 ? 1 : 0));
}

/** sr16 on four lanes, as i32x4 before saturation (the narrowing saturates). */
// @ts-ignore: decorator
@inline function sr16x4(x: v128, s: v128, draw: v128, magic: bool): v128 {
  const y = f32x4.mul(x, s), fl = f32x4.floor(y);
  const up = f32x4.lt(f32x4.convert_i32x4_s(i32x4.shr_u(draw, 8)), f32x4.mul(f32x4.sub(y, fl), f32x4.splat(16777216.0)));
  // fl is an integer: with |y| < 2^22 the ROUND_MAGIC add is exact and cheaper than trunc_sat.
  const q = magic ? i32x4.sub(f32x4.add(fl, f32x4.splat(ROUND_MAGIC)), i32x4.splat(ROUND_MAGIC_BITS)) : i32x4.trunc_sat_f32x4_s(fl);
  return i32x4.sub(q, up); // up is −1 where the value rounds up
}

