// f32 exp/log and the softplus/sigmoid pair of the variational kernels, each as a scalar function
// and an f32x4 function that perform the same IEEE operations in the same order, so a SIMD build
// and a scalar build (edge-scalar) give the same bits. Cephes-style range reduction and minimax
// polynomials (≤ 2 ulp on the ranges used here); no table, no branch per lane. Only operations
// with one defined result are used (add, mul, div, floor, integer bit tricks, and clamps as
// pmin/pmax, `b < a ? b : a`, whose scalar form is that same select: wasm's NaN-propagating
// min/max cost V8 a branchy sequence each); no FMA, no relaxed SIMD.

const LOG2E: f32 = 1.44269504088896341;
// ln 2 split in two: C1 has few mantissa bits, so fx·C1 is exact for |fx| ≤ 128.
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const EXP_HI: f32 = 88.3762626647949;
const EXP_LO: f32 = -87.3365478515625; // exp(EXP_LO) ≈ FLT_MIN: the result stays normal
const E0: f32 = 1.9875691500e-4, E1: f32 = 1.3981999507e-3, E2: f32 = 8.3334519073e-3;
const E3: f32 = 4.1665795894e-2, E4: f32 = 1.6666665459e-1, E5: f32 = 5.0000001201e-1;
const SQRT2: f32 = 1.41421356237;
const FLT_MIN: f32 = 1.17549435e-38;
const L0: f32 = 7.0376836292e-2, L1: f32 = -1.1514610310e-1, L2: f32 = 1.1676998740e-1;
const L3: f32 = -1.2420140846e-1, L4: f32 = 1.4249322787e-1, L5: f32 = -1.6668057665e-1;
const L6: f32 = 2.0000714765e-1, L7: f32 = -2.4999993993e-1, L8: f32 = 3.3333331174e-1;

/** e^x, x clamped to [EXP_LO, EXP_HI], so the integer part fx fits the exponent (NaN stays NaN). */
// @ts-ignore: decorator
@inline export function expf(x: f32): f32 {
  x = x < EXP_LO ? EXP_LO : x;
  x = EXP_HI < x ? EXP_HI : x;
  const fx = Mathf.floor(x * LOG2E + 0.5);
  x = x - fx * LN2_HI;
  x = x - fx * LN2_LO;
  const z = x * x;
  let y = ((((E0 * x + E1) * x + E2) * x + E3) * x + E4) * x + E5;
  y = y * z + x + 1.0;
  const pow2 = reinterpret<f32>((<i32>fx + 127) << 23);
  return y * pow2;
}

// @ts-ignore: decorator
@inline export function expf4(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
  const fx = f32x4.floor(f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(0.5)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(LN2_HI)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(LN2_LO)));
  const z = f32x4.mul(x, x);
  let y = f32x4.add(f32x4.mul(f32x4.splat(E0), x), f32x4.splat(E1));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(E2));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(E3));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(E4));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(E5));
  y = f32x4.add(f32x4.add(f32x4.mul(y, z), x), f32x4.splat(1.0));
  const pow2 = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(fx), i32x4.splat(127)), 23);
  return f32x4.mul(y, pow2);
}

/** ln x for x ≥ FLT_MIN (smaller x, 0 and subnormals give ln FLT_MIN; NaN stays NaN). */
// @ts-ignore: decorator
@inline export function logf(x: f32): f32 {
  x = x < FLT_MIN ? FLT_MIN : x;
  const bits = reinterpret<i32>(x);
  let e = (bits >> 23) - 127;
  let m = reinterpret<f32>((bits & 0x7fffff) | 0x3f800000); // [1, 2)
  if (m > SQRT2) { m = m * 0.5; e = e + 1; }                // [√½, √2)
  const f = m - 1.0, fe = <f32>e;
  const z = f * f;
  let y = ((((((((L0 * f + L1) * f + L2) * f + L3) * f + L4) * f + L5) * f + L6) * f + L7) * f + L8);
  y = y * f * z;
  y = y + fe * LN2_LO;
  y = y - 0.5 * z;
  return (f + y) + fe * LN2_HI;
}

// @ts-ignore: decorator
@inline export function logf4(x: v128): v128 {
  x = f32x4.pmax(x, f32x4.splat(FLT_MIN));
  let e = i32x4.sub(i32x4.shr_s(x, 23), i32x4.splat(127));
  let m = v128.or(v128.and(x, i32x4.splat(0x7fffff)), i32x4.splat(0x3f800000));
  const big = f32x4.gt(m, f32x4.splat(SQRT2));
  m = v128.bitselect(f32x4.mul(m, f32x4.splat(0.5)), m, big);
  e = i32x4.sub(e, big); // big lanes are −1
  const f = f32x4.sub(m, f32x4.splat(1.0)), fe = f32x4.convert_i32x4_s(e);
  const z = f32x4.mul(f, f);
  let y = f32x4.add(f32x4.mul(f32x4.splat(L0), f), f32x4.splat(L1));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(L2));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(L3));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(L4));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(L5));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(L6));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(L7));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(L8));
  y = f32x4.mul(f32x4.mul(y, f), z);
  y = f32x4.add(y, f32x4.mul(fe, f32x4.splat(LN2_LO)));
  y = f32x4.sub(y, f32x4.mul(f32x4.splat(0.5), z));
  return f32x4.add(f32x4.add(f, y), f32x4.mul(fe, f32x4.splat(LN2_HI)));
}

// softplus(x) = max(x, 0) + log1p(e^−|x|) and sigmoid(x) = (x ≥ 0 ? 1 : e^−|x|) / (1 + e^−|x|)
// share one exp. log1p(t) = ln(u)·t/(u − 1) with u = 1 + t (Goldberg): exact to a few ulp where
// 1 + t rounds, and t itself where u == 1, so σ stays accurate for very negative ρ.

/** σ = softplus(x). */
// @ts-ignore: decorator
@inline export function softplusf(x: f32): f32 {
  const t = expf(-abs<f32>(x));
  const u = t + 1.0;
  const l = u == 1.0 ? t : logf(u) * (t / (u - 1.0));
  return (x < 0 ? <f32>0 : x) + l;
}

/** sigmoid(x) = softplus′(x). */
// @ts-ignore: decorator
@inline export function sigmoidf(x: f32): f32 {
  const t = expf(-abs<f32>(x));
  return (x >= 0 ? <f32>1.0 : t) / (t + 1.0);
}

// @ts-ignore: decorator
@inline export function softplusf4(x: v128): v128 {
  const t = expf4(f32x4.neg(f32x4.abs(x)));
  const u = f32x4.add(t, f32x4.splat(1.0));
  const g = f32x4.mul(logf4(u), f32x4.div(t, f32x4.sub(u, f32x4.splat(1.0))));
  const l = v128.bitselect(t, g, f32x4.eq(u, f32x4.splat(1.0)));
  return f32x4.add(f32x4.pmax(x, f32x4.splat(0)), l);
}

// @ts-ignore: decorator
@inline export function sigmoidf4(x: v128): v128 {
  const t = expf4(f32x4.neg(f32x4.abs(x)));
  const num = v128.bitselect(f32x4.splat(1.0), t, f32x4.ge(x, f32x4.splat(0)));
  return f32x4.div(num, f32x4.add(t, f32x4.splat(1.0)));
}
