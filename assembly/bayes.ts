// Variational kernels of the low-rank prior (METHOD.md §3): reparameterised sampling of the
// factors, the analytic KL to each rank slice's Gaussian prior with its gradients, and the f64
// sufficient statistics of the closed-form rank-variance update.
//
// A governed tensor is viewed as [outer × slices × inner]: entry (o, s, i) belongs to rank slice s,
// whose prior precision 1/λ_s is `precision[s]` (f32, clipped by the host). σ = softplus(ρ).
// Per-entry math is f32 with the polynomial exp/log of vmath.ts, four entries per f32x4 where the
// flavour has SIMD; the scalar flavour does each lane's operations in the same order and sums stay
// f64 in index order, so every flavour gives the same bits. These loops run over every factor
// entry every step (the EM statistics, the sample and the KL gradient): with the module's scalar
// Mathf they cost about as much as the GEMMs of an early, full-rank SVI step.
import { rngNormalsF32 } from './rng';
import { expf, expf4, logf, logf4, softplusf, softplusf4 } from './vmath';

/** w = μ + softplus(ρ)·ε with ε ~ N(0,1) drawn in index order (kept in `eps` for the gradient). */
export function sampleWeightsF32(w: usize, eps: usize, mu: usize, rho: usize, rng: usize, n: i32): void {
  rngNormalsF32(rng, eps, n);
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= n; j += 4) {
      const p = <usize>j << 2;
      v128.store(w + p, f32x4.add(v128.load(mu + p), f32x4.mul(softplusf4(v128.load(rho + p)), v128.load(eps + p))));
    }
  }
  for (; j < n; j++) {
    const p = <usize>j << 2;
    store<f32>(w + p, load<f32>(mu + p) + softplusf(load<f32>(rho + p)) * load<f32>(eps + p));
  }
}

/**
 * SVI gradients in place: on entry gmu holds ∂NLL/∂w of the sampled weights. On exit
 *   gmu  = ∂NLL/∂w + β·μ/λ
 *   grho = (∂NLL/∂w·ε + β·(σ/λ − 1/σ))·sigmoid(ρ)
 * Returns Σ KL(N(μ,σ²) ‖ N(0,λ)) over the tensor, summed in f64.
 *
 * The SIMD path runs over the flattened entries four at a time, whatever the slice layout (a TT
 * core's rank slices are its last axis, inner = 1): each lane reads its own slice's precision.
 * σ and sigmoid(ρ) share one exp; every lane does the scalar path's operations in its order.
 */
export function sviGradF32(gmu: usize, grho: usize, mu: usize, rho: usize, eps: usize, precision: usize,
                           outer: i32, slices: i32, inner: i32, beta: f64): f64 {
  const n = outer * slices * inner;
  const b = <f32>beta;
  // KL sums in four f64 partial sums, entry j into k[j % 4] (two f64x2 with SIMD): no serial chain.
  let k0: f64 = 0, k1: f64 = 0, k2: f64 = 0, k3: f64 = 0;
  let j = 0, s = 0, i = 0; // entry j lies in slice s at position i of its run of `inner`
  if (ASC_FEATURE_SIMD) {
    const vb = f32x4.splat(b), one = f32x4.splat(1.0), zero = f32x4.splat(0);
    let klLo = f64x2.splat(0), klHi = f64x2.splat(0);
    for (; j + 4 <= n; j += 4) {
      let prec = f32x4.splat(0);
      prec = f32x4.replace_lane(prec, 0, load<f32>(precision + (<usize>s << 2))); if (++i == inner) { i = 0; if (++s == slices) s = 0; }
      prec = f32x4.replace_lane(prec, 1, load<f32>(precision + (<usize>s << 2))); if (++i == inner) { i = 0; if (++s == slices) s = 0; }
      prec = f32x4.replace_lane(prec, 2, load<f32>(precision + (<usize>s << 2))); if (++i == inner) { i = 0; if (++s == slices) s = 0; }
      prec = f32x4.replace_lane(prec, 3, load<f32>(precision + (<usize>s << 2))); if (++i == inner) { i = 0; if (++s == slices) s = 0; }
      const p = <usize>j << 2;
      const m = v128.load(mu + p), r = v128.load(rho + p), gw = v128.load(gmu + p);
      const t = expf4(f32x4.neg(f32x4.abs(r)));
      const u = f32x4.add(t, one);
      const l = v128.bitselect(t, f32x4.mul(logf4(u), f32x4.div(t, f32x4.sub(u, one))), f32x4.eq(u, one));
      const sigma = f32x4.add(f32x4.pmax(r, zero), l);
      const sg = f32x4.div(v128.bitselect(one, t, f32x4.ge(r, zero)), u);
      const s2p = f32x4.mul(f32x4.mul(sigma, sigma), prec);
      const term = f32x4.sub(f32x4.sub(f32x4.add(s2p, f32x4.mul(f32x4.mul(m, m), prec)), one), logf4(s2p));
      klLo = f64x2.add(klLo, f64x2.promote_low_f32x4(term));
      klHi = f64x2.add(klHi, f64x2.promote_low_f32x4(v128.shuffle<f32>(term, term, 2, 3, 2, 3)));
      const bprec = f32x4.mul(vb, prec);
      v128.store(gmu + p, f32x4.add(gw, f32x4.mul(bprec, m)));
      const d = f32x4.sub(f32x4.mul(bprec, sigma), f32x4.div(vb, sigma));
      v128.store(grho + p, f32x4.mul(f32x4.add(f32x4.mul(gw, v128.load(eps + p)), d), sg));
    }
    k0 = f64x2.extract_lane(klLo, 0); k1 = f64x2.extract_lane(klLo, 1);
    k2 = f64x2.extract_lane(klHi, 0); k3 = f64x2.extract_lane(klHi, 1);
  }
  for (; j < n; j++) {
    const prec = load<f32>(precision + (<usize>s << 2));
    if (++i == inner) { i = 0; if (++s == slices) s = 0; }
    const p = <usize>j << 2;
    const m = load<f32>(mu + p), r = load<f32>(rho + p), gw = load<f32>(gmu + p);
    const t = expf(-abs<f32>(r));
    const u = t + 1.0;
    const l = u == 1.0 ? t : logf(u) * (t / (u - 1.0));
    const sigma = (r < 0 ? <f32>0 : r) + l;
    const sg = (r >= 0 ? <f32>1.0 : t) / u;
    const s2p = sigma * sigma * prec;
    const term = <f64>(s2p + m * m * prec - 1.0 - logf(s2p));
    const lane = j & 3;
    if (lane == 0) k0 += term; else if (lane == 1) k1 += term; else if (lane == 2) k2 += term; else k3 += term;
    const bprec = b * prec;
    store<f32>(gmu + p, gw + bprec * m);
    store<f32>(grho + p, (gw * load<f32>(eps + p) + (bprec * sigma - b / sigma)) * sg);
  }
  return 0.5 * ((k0 + k2) + (k1 + k3));
}

/** MAP (σ = 0): gmu += β·μ/λ; returns the prior penalty ½·Σ μ²/λ (the KL without its σ terms). */
export function mapGradF32(gmu: usize, mu: usize, precision: usize, outer: i32, slices: i32, inner: i32, beta: f64): f64 {
  let pen: f64 = 0;
  let j: usize = 0;
  for (let o = 0; o < outer; o++) {
    for (let s = 0; s < slices; s++) {
      const prec = <f64>load<f32>(precision + (<usize>s << 2));
      for (let i = 0; i < inner; i++) {
        const p = j << 2;
        const m = <f64>load<f32>(mu + p);
        pen += 0.5 * m * m * prec;
        store<f32>(gmu + p, <f32>(<f64>load<f32>(gmu + p) + beta * m * prec));
        j++;
      }
    }
  }
  return pen;
}

/**
 * out[s] += Σ over the slice of μ² + σ² (σ = softplus(ρ); no ρ when rho == 0), in f64 in index
 * order. With SIMD, σ comes four entries at a time and the sums stay scalar (same bits).
 */
export function sliceSquaresF64(out: usize, mu: usize, rho: usize, outer: i32, slices: i32, inner: i32): void {
  const n = outer * slices * inner;
  let j = 0, s = 0, i = 0;
  let q = out, acc = load<f64>(out);
  if (ASC_FEATURE_SIMD && rho != 0) {
    for (; j + 4 <= n; j += 4) {
      const p = <usize>j << 2;
      const m = v128.load(mu + p), sg = softplusf4(v128.load(rho + p));
      acc += <f64>f32x4.extract_lane(m, 0) * <f64>f32x4.extract_lane(m, 0);
      acc += <f64>f32x4.extract_lane(sg, 0) * <f64>f32x4.extract_lane(sg, 0);
      if (++i == inner) { i = 0; store<f64>(q, acc); if (++s == slices) s = 0; q = out + (<usize>s << 3); acc = load<f64>(q); }
      acc += <f64>f32x4.extract_lane(m, 1) * <f64>f32x4.extract_lane(m, 1);
      acc += <f64>f32x4.extract_lane(sg, 1) * <f64>f32x4.extract_lane(sg, 1);
      if (++i == inner) { i = 0; store<f64>(q, acc); if (++s == slices) s = 0; q = out + (<usize>s << 3); acc = load<f64>(q); }
      acc += <f64>f32x4.extract_lane(m, 2) * <f64>f32x4.extract_lane(m, 2);
      acc += <f64>f32x4.extract_lane(sg, 2) * <f64>f32x4.extract_lane(sg, 2);
      if (++i == inner) { i = 0; store<f64>(q, acc); if (++s == slices) s = 0; q = out + (<usize>s << 3); acc = load<f64>(q); }
      acc += <f64>f32x4.extract_lane(m, 3) * <f64>f32x4.extract_lane(m, 3);
      acc += <f64>f32x4.extract_lane(sg, 3) * <f64>f32x4.extract_lane(sg, 3);
      if (++i == inner) { i = 0; store<f64>(q, acc); if (++s == slices) s = 0; q = out + (<usize>s << 3); acc = load<f64>(q); }
    }
  }
  for (; j < n; j++) {
    const p = <usize>j << 2;
    const m = <f64>load<f32>(mu + p);
    acc += m * m;
    if (rho != 0) { const sg = <f64>softplusf(load<f32>(rho + p)); acc += sg * sg; }
    if (++i == inner) {
      i = 0;
      store<f64>(q, acc);
      if (++s == slices) s = 0;
      q = out + (<usize>s << 3);
      acc = load<f64>(q);
    }
  }
}
