// The scalar math of the Bayesian rank prior, in float64 on the host (METHOD §2.3, §3.3, §3.5, §4,
// §7). Everything here is a pure function of numbers so that the EM update, the rank read-off, the
// KL schedule and the calibration metrics have exactly one definition that the trainer, the CLI,
// the reports and the tests share. Sums feeding these functions (M per slice) must be accumulated
// in f64 by the caller (METHOD §7 item 15).

/** Hyperprior on a slice's standard deviation s = √λ (METHOD §2.3). */
export type Hyperprior = { kind: 'log-uniform' } | { kind: 'half-cauchy'; eta: number };

/** Variance floor: s ≥ 1e-20 keeps μ/s² finite for collapsed slices (METHOD §3.8, §7 item 5). */
export const LAMBDA_MIN = 1e-40;

function fail(what: string, value: unknown, expected: string): never {
  throw new RangeError(`${what}: got ${String(value)}, expected ${expected}`);
}

/**
 * Closed-form MAP update of one rank slice's variance λ = s² from M = Σ E[x²] = Σ(μ²+σ²) over its
 * D entries (METHOD §3.3):
 *  log-uniform: M/(D+1); half-Cauchy(η): positive root of (D+2)v² − (M − Dη²)v − Mη² = 0, computed
 *  stably: when M − Dη² ≥ 0 use ((M−Dη²) + √Δ)/(2(D+2)); when < 0 use 2Mη²/(√Δ − (M−Dη²)) (no
 *  cancellation), Δ = (M−Dη²)² + 4(D+2)Mη².
 */
export function emVariance(M: number, D: number, prior: Hyperprior): number {
  if (!(M >= 0 && M < Infinity)) fail('emVariance M', M, 'a finite number ≥ 0');
  if (!(D >= 0 && D < Infinity)) fail('emVariance D', D, 'a finite number ≥ 0');
  if (prior.kind === 'log-uniform') return M / (D + 1);
  if (prior.kind !== 'half-cauchy') fail('emVariance prior.kind', (prior as { kind: unknown }).kind, "'log-uniform' or 'half-cauchy'");
  const eta = prior.eta;
  if (!(eta > 0 && eta < Infinity)) fail('emVariance half-cauchy eta', eta, 'a finite number > 0');
  const e2 = eta * eta;
  const De2 = D * e2;
  // η so large that Dη² overflows: the prior is flat over any representable λ, leaving the ML
  // estimate M/D (METHOD §2.3, limit η → ∞).
  if (!(De2 < Infinity)) return D > 0 ? M / D : Infinity;
  const b = M - De2;
  // hypot keeps √Δ finite when b² or 4(D+2)Mη² alone would overflow.
  const sqrtDelta = Math.hypot(b, 2 * Math.sqrt((D + 2) * M) * eta);
  // The textbook root (b + √Δ)/(2(D+2)) subtracts nearly equal numbers when M ≪ Dη² (a dying
  // slice under a wide prior); the conjugate form has only same-sign operations there (§7 item 15).
  if (b >= 0) return (b + sqrtDelta) / (2 * (D + 2));
  return (2 * M * e2) / (sqrtDelta - b);
}

/**
 * Damped write-back: λ ← (1−α)λ + α·λ_new (METHOD §3.3 step 3 in variance form), then floored at
 * LAMBDA_MIN. The reference damps s², not s, so this is the same update expressed on λ.
 */
export function dampedVariance(old: number, fresh: number, alpha: number): number {
  if (!(alpha >= 0 && alpha <= 1)) fail('dampedVariance alpha', alpha, 'a number in [0, 1]');
  // α = 1 must give exactly `fresh` (the reference's default), not (0·old + fresh) with old = ∞/NaN.
  const v = alpha === 1 ? fresh : alpha === 0 ? old : (1 - alpha) * old + alpha * fresh;
  return v > LAMBDA_MIN ? v : Number.isNaN(v) ? v : LAMBDA_MIN;
}

/**
 * The one rank read-off rule (METHOD §4, §7 items 1, 2 and 13): slice ρ of a group is alive iff
 * λ_ρ > abs AND λ_ρ ≥ rel · max_ρ' λ_ρ' (same group). The relative part makes the rank independent
 * of the overall factor scale, which shrinks with tensor order; the absolute part still catches
 * groups where everything has collapsed. At least one slice (the largest) always stays alive, since
 * a rank-0 bond would zero the whole tensor.
 */
export interface RankThreshold { rel: number; abs: number }
export const DEFAULT_RANK_THRESHOLD: RankThreshold = { rel: 1e-2, abs: 1e-12 };

function checkThreshold(t: RankThreshold, what: string): void {
  if (!(t.rel >= 0 && t.rel <= 1)) fail(`${what} rel`, t.rel, 'a number in [0, 1]');
  if (!(t.abs >= 0 && t.abs < Infinity)) fail(`${what} abs`, t.abs, 'a finite number ≥ 0');
}

/** Returns the kept slice indices, ascending; never empty. */
export function aliveSlices(rankVar: ArrayLike<number>, t: RankThreshold): number[] {
  checkThreshold(t, 'aliveSlices threshold');
  const n = rankVar.length;
  if (n === 0) fail('aliveSlices rankVar.length', 0, 'at least one slice');
  let best = 0;
  for (let i = 0; i < n; i++) {
    const v = rankVar[i];
    if (!(v >= 0)) fail(`aliveSlices rankVar[${i}]`, v, 'a variance ≥ 0');
    if (v > rankVar[best]) best = i;
  }
  const cut = t.rel * rankVar[best];
  const kept: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = rankVar[i];
    if (i === best || (v > t.abs && v >= cut)) kept.push(i);
  }
  return kept;
}

const RANK_THRESHOLD_FORM = 'REL or REL,ABS with 0 ≤ REL ≤ 1 and ABS ≥ 0 (e.g. "1e-3" or "1e-3,1e-12")';

/** Strict decimal parse: Number() alone accepts "", " ", "0x10" and "Infinity". */
function parseNumber(s: string): number {
  const x = s.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(x)) return NaN;
  return Number(x);
}

/** "1e-3" (rel only, abs from DEFAULT_RANK_THRESHOLD) or "1e-3,1e-12". */
export function parseRankThreshold(text: string): RankThreshold {
  const parts = text.split(',');
  const bad = (why: string): never => {
    throw new RangeError(`invalid rank threshold "${text}"${why}: expected ${RANK_THRESHOLD_FORM}`);
  };
  if (parts.length > 2) bad('');
  const rel = parseNumber(parts[0]);
  if (!(rel >= 0 && rel <= 1)) bad(` (REL "${parts[0].trim()}")`);
  if (parts.length === 1) return { rel, abs: DEFAULT_RANK_THRESHOLD.abs };
  const abs = parseNumber(parts[1]);
  if (!(abs >= 0 && abs < Infinity)) bad(` (ABS "${parts[1].trim()}")`);
  return { rel, abs };
}

/**
 * KL weight β at a (fractional) epoch: κ · clip((epoch − start)/length, 0, 1) (METHOD §3.5, the
 * MNIST/NLP schedule). length 0 means a step at `start`: β = κ from epoch = start on.
 */
export function klWeight(kappa: number, epoch: number, warmup: { start: number; length: number }): number {
  if (warmup.length === 0) return epoch >= warmup.start ? kappa : 0;
  const f = (epoch - warmup.start) / warmup.length;
  return kappa * (f <= 0 ? 0 : f >= 1 ? 1 : f);
}

/** "START,LENGTH" in epochs, non-negative finite numbers (METHOD §3.5: MNIST is "5,50"). */
export function parseKlWarmup(text: string): { start: number; length: number } {
  const form = 'START,LENGTH in epochs, two numbers ≥ 0 (e.g. "5,50")';
  const parts = text.split(',');
  if (parts.length !== 2) throw new RangeError(`invalid KL warm-up "${text}": expected ${form}`);
  const [start, length] = parts.map(parseNumber);
  if (!(start >= 0 && start < Infinity)) throw new RangeError(`invalid KL warm-up "${text}" (START "${parts[0].trim()}"): expected ${form}`);
  if (!(length >= 0 && length < Infinity)) throw new RangeError(`invalid KL warm-up "${text}" (LENGTH "${parts[1].trim()}"): expected ${form}`);
  return { start, length };
}

/**
 * Gaussian KL(N(μ,σ²) ‖ N(0,λ)) of one entry, f64: ½[σ²/λ + μ²/λ − 1 − log(σ²/λ)] (METHOD §3.2).
 * With r = σ²/λ = 1 + d the σ-part r − 1 − log r ≈ d²/2 vanishes to second order, so near r = 1
 * (SVI entries sitting on their prior: dead slices) it is summed as a series instead of cancelled.
 */
export function klEntry(mu: number, sigma: number, lambda: number): number {
  const s2 = sigma * sigma;
  const r = s2 / lambda;
  let sigmaPart: number;
  if (Math.abs(r - 1) < 1e-2) {
    // r − 1 − log(1+d) = Σ_{k≥2} (−1)^k d^k / k; |d| < 1e-2 converges to 1 ulp within 9 terms.
    const d = (s2 - lambda) / lambda;
    sigmaPart = 0;
    let p = d;
    for (let k = 2; k <= 10; k++) { p *= -d; sigmaPart -= p / k; }
  } else {
    // Not log1p(d): for the MAP case σ = 1e-9, r ≈ 1e-16 and 1 + d would round it away.
    sigmaPart = r - 1 - Math.log(r);
  }
  return 0.5 * ((mu * mu) / lambda + sigmaPart);
}

/** ∂/∂μ and ∂/∂σ of klEntry: μ/λ (the per-slice weight decay of §3.2) and σ/λ − 1/σ. */
export function klEntryGrad(mu: number, sigma: number, lambda: number): { dMu: number; dSigma: number } {
  return { dMu: mu / lambda, dSigma: sigma / lambda - 1 / sigma };
}

/** softplus(x) = log(1+eˣ), stable for large |x| (the σ = softplus(ρ) transform, METHOD §3.1, §7 item 7). */
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** sigmoid(x) = d softplus/dx; never evaluates exp of a large positive number. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** ρ with softplus(ρ) = σ, i.e. log(e^σ − 1) = σ + log(1 − e^−σ), for initializing ρ from σ = 1e-9. */
export function softplusInverse(sigma: number): number {
  if (!(sigma > 0)) fail('softplusInverse sigma', sigma, 'a number > 0');
  if (sigma === Infinity) return Infinity;
  // log(1 − e^−σ): log1p(−e^−σ) is accurate when e^−σ is small, log(−expm1(−σ)) when σ is small.
  return sigma + (sigma > Math.LN2 ? Math.log1p(-Math.exp(-sigma)) : Math.log(-Math.expm1(-sigma)));
}

/**
 * Calibration metrics from predicted class probabilities (rows × classes, row-major) and labels:
 * accuracy (argmax, first index on ties), mean negative log-likelihood (probabilities clamped at
 * 1e-12), and expected calibration error with `bins` equal-width confidence bins over (0,1]
 * (bin b holds b/bins < confidence ≤ (b+1)/bins; confidence = max probability;
 * ECE = Σ_bins |bin|/N · |acc(bin) − conf(bin)|). Used to judge whether the Bayesian treatment
 * buys calibration, not just compression.
 */
export function classificationMetrics(
  probs: ArrayLike<number>, labels: ArrayLike<number>, classes: number, bins = 15,
): { accuracy: number; nll: number; ece: number } {
  if (!(Number.isInteger(classes) && classes >= 1)) fail('classificationMetrics classes', classes, 'an integer ≥ 1');
  if (!(Number.isInteger(bins) && bins >= 1)) fail('classificationMetrics bins', bins, 'an integer ≥ 1');
  const n = labels.length;
  if (n === 0) fail('classificationMetrics labels.length', 0, 'at least one row');
  if (probs.length !== n * classes) fail('classificationMetrics probs.length', probs.length, `rows × classes = ${n * classes}`);
  const binCount = new Float64Array(bins), binCorrect = new Float64Array(bins), binConf = new Float64Array(bins);
  let correct = 0, nll = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!(Number.isInteger(y) && y >= 0 && y < classes)) fail(`classificationMetrics labels[${i}]`, y, `an integer in [0, ${classes})`);
    const row = i * classes;
    let arg = 0;
    for (let c = 1; c < classes; c++) if (probs[row + c] > probs[row + arg]) arg = c;
    const conf = probs[row + arg];
    const hit = arg === y ? 1 : 0;
    correct += hit;
    nll -= Math.log(Math.max(probs[row + y], 1e-12));
    // ceil(conf·bins) − 1, then nudged so membership matches the edges b/bins exactly.
    let b = Math.min(bins - 1, Math.max(0, Math.ceil(conf * bins) - 1));
    while (b > 0 && conf <= b / bins) b--;
    while (b < bins - 1 && conf > (b + 1) / bins) b++;
    binCount[b]++; binCorrect[b] += hit; binConf[b] += conf;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    if (binCount[b] > 0) ece += Math.abs(binCorrect[b] - binConf[b]) / n; // |bin|/N · |acc − conf|
  }
  return { accuracy: correct / n, nll: nll / n, ece };
}
