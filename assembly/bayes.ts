// Variational kernels of the low-rank prior (METHOD.md §3): reparameterised sampling of the
// factors, the analytic KL to each rank slice's Gaussian prior with its gradients, and the f64
// sufficient statistics of the closed-form rank-variance update.
//
// A governed tensor is viewed as [outer × slices × inner]: entry (o, s, i) belongs to rank slice s,
// whose prior precision 1/λ_s is `precision[s]` (f32, clipped by the host). σ = softplus(ρ).
// Loops are scalar and in index order, so every flavour gives the same bits. Per-entry math is
// f32 (the module's own Mathf, deterministic everywhere): these loops run over every factor entry
// every step, and in f64 they took 60 % of an SVI step of the DLRM; sums stay f64.
import { rngNormalsF32 } from './rng';

// @ts-ignore: decorator
@inline function softplus(x: f32): f32 { return x > 20 ? x : Mathf.log1p(Mathf.exp(x)); }
// @ts-ignore: decorator
@inline function sigmoid(x: f32): f32 { return 1.0 / (1.0 + Mathf.exp(-x)); }

/** w = μ + softplus(ρ)·ε with ε ~ N(0,1) drawn in index order (kept in `eps` for the gradient). */
export function sampleWeightsF32(w: usize, eps: usize, mu: usize, rho: usize, rng: usize, n: i32): void {
  rngNormalsF32(rng, eps, n);
  for (let j = 0; j < n; j++) {
    const p = <usize>j << 2;
    store<f32>(w + p, load<f32>(mu + p) + softplus(load<f32>(rho + p)) * load<f32>(eps + p));
  }
}

/**
 * SVI gradients in place: on entry gmu holds ∂NLL/∂w of the sampled weights. On exit
 *   gmu  = ∂NLL/∂w + β·μ/λ
 *   grho = (∂NLL/∂w·ε + β·(σ/λ − 1/σ))·sigmoid(ρ)
 * Returns Σ KL(N(μ,σ²) ‖ N(0,λ)) over the tensor, in f64.
 */
export function sviGradF32(gmu: usize, grho: usize, mu: usize, rho: usize, eps: usize, precision: usize,
                           outer: i32, slices: i32, inner: i32, beta: f64): f64 {
  let kl: f64 = 0;
  let j: usize = 0;
  for (let o = 0; o < outer; o++) {
    for (let s = 0; s < slices; s++) {
      const prec = load<f32>(precision + (<usize>s << 2));
      const b = <f32>beta, bprec = b * prec;
      let klSlice: f64 = 0;
      for (let i = 0; i < inner; i++) {
        const p = j << 2;
        const m = load<f32>(mu + p), r = load<f32>(rho + p);
        const sigma = softplus(r);
        const gw = load<f32>(gmu + p);
        const s2p = sigma * sigma * prec;
        klSlice += <f64>(s2p + m * m * prec - 1.0 - Mathf.log(s2p));
        store<f32>(gmu + p, gw + bprec * m);
        store<f32>(grho + p, (gw * load<f32>(eps + p) + (bprec * sigma - b / sigma)) * sigmoid(r));
        j++;
      }
      kl += 0.5 * klSlice;
    }
  }
  return kl;
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

/** out[s] += Σ over the slice of μ² + σ² (σ = softplus(ρ); no ρ when rho == 0), in f64. */
export function sliceSquaresF64(out: usize, mu: usize, rho: usize, outer: i32, slices: i32, inner: i32): void {
  let j: usize = 0;
  for (let o = 0; o < outer; o++) {
    for (let s = 0; s < slices; s++) {
      const q = out + (<usize>s << 3);
      let acc = load<f64>(q);
      for (let i = 0; i < inner; i++) {
        const p = j << 2;
        const m = <f64>load<f32>(mu + p);
        acc += m * m;
        if (rho != 0) { const sg = <f64>softplus(load<f32>(rho + p)); acc += sg * sg; }
        j++;
      }
      store<f64>(q, acc);
    }
  }
}
