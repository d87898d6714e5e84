// The rank prior's scalar math (src/bayes/prior.ts): the closed-form EM variance equals a brute-force
// 1-D MAP search for both hyperpriors (and the stable half-Cauchy root keeps its precision where the
// textbook root does not), the damped write-back and its floor, the one rank read-off rule, the KL
// and its gradient, softplus and friends, the calibration metrics, and the two CLI parsers.
import t from 'tap';
import {
  emVariance, dampedVariance, LAMBDA_MIN, aliveSlices, DEFAULT_RANK_THRESHOLD, parseRankThreshold,
  klWeight, parseKlWarmup, klEntry, klEntryGrad, softplus, sigmoid, softplusInverse, classificationMetrics,
  type Hyperprior,
} from '../src/bayes/prior.js';

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

// ---- brute-force MAP of s for one slice ---------------------------------------------------------
// Negative log joint in u = log s:  D·u + M/(2s²) − log p(s), with −log p = u (log-uniform) or
// log(1 + s²/η²) (half-Cauchy). Convex in u, so golden-section search over a wide bracket finds the
// minimum. Golden section on function values can only place a flat minimum to ~√ε ≈ 1e-8 relative,
// so the bracket it returns is then narrowed by bisection on the sign of the analytic derivative,
// which stays exact to ~1e-15 (no closed form is used anywhere).
const softplusRef = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const sigmoidRef = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

function negLogJoint(u: number, M: number, D: number, prior: Hyperprior): number {
  const data = D * u + 0.5 * M * Math.exp(-2 * u);
  return prior.kind === 'log-uniform' ? data + u : data + softplusRef(2 * u - 2 * Math.log(prior.eta));
}
function dNegLogJoint(u: number, M: number, D: number, prior: Hyperprior): number {
  const data = D - M * Math.exp(-2 * u);
  return prior.kind === 'log-uniform' ? data + 1 : data + 2 * sigmoidRef(2 * u - 2 * Math.log(prior.eta));
}

function goldenSection(f: (u: number) => number, lo: number, hi: number, tol: number): [number, number] {
  const g = (Math.sqrt(5) - 1) / 2;
  let a = lo, b = hi;
  let c = b - g * (b - a), d = a + g * (b - a);
  let fc = f(c), fd = f(d);
  while (b - a > tol * Math.max(1, Math.abs(a))) {
    if (fc < fd) { b = d; d = c; fd = fc; c = b - g * (b - a); fc = f(c); }
    else { a = c; c = d; fc = fd; d = a + g * (b - a); fd = f(d); }
  }
  return [a, b];
}

/** s² at the brute-force MAP; also the golden-section-only estimate. */
function bruteForceVariance(M: number, D: number, prior: Hyperprior): { golden: number; refined: number } {
  const f = (u: number): number => negLogJoint(u, M, D, prior);
  const [a, b] = goldenSection(f, -100, 100, 1e-12);
  const golden = Math.exp(a + b); // s² = e^{2u}, u the bracket midpoint
  // Widen until the derivative changes sign (golden section may stop slightly off a flat minimum).
  let lo = a, hi = b, w = 1e-9;
  while (dNegLogJoint(lo, M, D, prior) > 0) { lo -= w; w *= 2; }
  w = 1e-9;
  while (dNegLogJoint(hi, M, D, prior) < 0) { hi += w; w *= 2; }
  for (let i = 0; i < 200; i++) {
    const mid = 0.5 * (lo + hi);
    if (mid === lo || mid === hi) break;
    if (dNegLogJoint(mid, M, D, prior) < 0) lo = mid; else hi = mid;
  }
  return { golden, refined: Math.exp(lo + hi) };
}

/** The textbook half-Cauchy root as written in METHOD §3.3 (cancels when M ≪ Dη²). */
function naiveHalfCauchy(M: number, D: number, eta: number): number {
  const e2 = eta * eta;
  return (M - D * e2 + Math.sqrt(M * M + (2 * D + 8) * e2 * M + D * D * e2 * e2)) / (2 * D + 4);
}

const PRIORS: Hyperprior[] = [
  { kind: 'log-uniform' },
  { kind: 'half-cauchy', eta: 0.01 }, { kind: 'half-cauchy', eta: 0.1 }, { kind: 'half-cauchy', eta: 1 },
];
// (M, D) from a dead slice of a big group (M ≪ Dη²) to a live slice of a small one (M ≫ Dη²).
const CASES: [number, number][] = [
  [1e-12, 1000], [1e-9, 1000], [1e-6, 50], [3e-3, 200], [0.07, 12], [1, 1000], [1, 1], [5, 3], [1e3, 10], [1e6, 100000], [2.5e4, 1],
];
const describe = (p: Hyperprior): string => (p.kind === 'log-uniform' ? 'LU' : `HC(η=${p.eta})`);

t.test('emVariance equals the brute-force MAP of s² for both hyperpriors', async (t) => {
  let worstGolden = 0, worstRefined = 0;
  for (const prior of PRIORS) {
    for (const [M, D] of CASES) {
      const v = emVariance(M, D, prior);
      const bf = bruteForceVariance(M, D, prior);
      worstGolden = Math.max(worstGolden, rel(v, bf.golden));
      worstRefined = Math.max(worstRefined, rel(v, bf.refined));
      t.ok(rel(v, bf.refined) <= 1e-8, `${describe(prior)} M=${M} D=${D}: ${v} vs brute force ${bf.refined} (rel ${rel(v, bf.refined).toExponential(2)})`);
      // The refined point is a minimum of the objective itself, not merely a derivative root.
      t.ok(rel(v, bf.golden) <= 1e-6, `${describe(prior)} M=${M} D=${D}: golden-section alone agrees (rel ${rel(v, bf.golden).toExponential(2)})`);
    }
  }
  t.comment(`worst relative gap: golden-section ${worstGolden.toExponential(2)}, refined ${worstRefined.toExponential(2)}`);
  // Log-uniform is exactly M/(D+1) (METHOD §2.3 equivalent penalty).
  t.equal(emVariance(6, 2, { kind: 'log-uniform' }), 2);
});

t.test('stable half-Cauchy root: equals the textbook root where that is accurate, beats it where it cancels', async (t) => {
  // M ≫ Dη²: no cancellation, both formulas agree to rounding.
  for (const [M, D, eta] of [[1e3, 10, 0.01], [1, 100, 0.01], [50, 20, 1], [2.5e4, 1, 0.1]] as const) {
    const prior: Hyperprior = { kind: 'half-cauchy', eta };
    t.ok(rel(emVariance(M, D, prior), naiveHalfCauchy(M, D, eta)) <= 1e-14, `M=${M} D=${D} η=${eta}: stable = naive`);
  }
  // M ≪ Dη²: the textbook numerator is the difference of two ≈ Dη² numbers.
  for (const [M, D, eta] of [[1e-12, 1000, 1], [1e-12, 1000, 0.1], [1e-9, 100000, 1]] as const) {
    const prior: Hyperprior = { kind: 'half-cauchy', eta };
    const bf = bruteForceVariance(M, D, prior).refined;
    const stable = emVariance(M, D, prior), naive = naiveHalfCauchy(M, D, eta);
    t.ok(rel(stable, bf) <= 1e-10, `M=${M} D=${D} η=${eta}: stable rel error ${rel(stable, bf).toExponential(2)} ≤ 1e-10`);
    t.ok(rel(naive, bf) > 1e-6, `M=${M} D=${D} η=${eta}: naive rel error ${rel(naive, bf).toExponential(2)} > 1e-6`);
  }
});

t.test('half-Cauchy limits: huge η → M/D (flat prior), tiny η → M/(D+2)', async (t) => {
  for (const [M, D] of [[1, 10], [3e-4, 1000], [7, 1]] as const) {
    t.ok(rel(emVariance(M, D, { kind: 'half-cauchy', eta: 1e8 }), M / D) <= 1e-12, `M=${M} D=${D} η=1e8 → M/D`);
    t.ok(rel(emVariance(M, D, { kind: 'half-cauchy', eta: 1e200 }), M / D) <= 1e-12, `M=${M} D=${D} η=1e200 (Dη² overflows) → M/D`);
    t.ok(rel(emVariance(M, D, { kind: 'half-cauchy', eta: 1e-8 }), M / (D + 2)) <= 1e-12, `M=${M} D=${D} η=1e-8 → M/(D+2)`);
    t.ok(rel(emVariance(M, D, { kind: 'half-cauchy', eta: 1e-200 }), M / (D + 2)) <= 1e-12, `M=${M} D=${D} η=1e-200 → M/(D+2)`);
  }
  t.equal(emVariance(0, 10, { kind: 'half-cauchy', eta: 0.1 }), 0, 'M=0 gives 0 (floored by dampedVariance)');
  t.equal(emVariance(0, 10, { kind: 'log-uniform' }), 0);
});

t.test('emVariance rejects invalid input, naming the value', async (t) => {
  t.throws(() => emVariance(NaN, 10, { kind: 'log-uniform' }), { name: 'RangeError', message: /NaN/ });
  t.throws(() => emVariance(-1, 10, { kind: 'log-uniform' }), { name: 'RangeError', message: /-1/ });
  t.throws(() => emVariance(1, -3, { kind: 'log-uniform' }), { name: 'RangeError', message: /-3/ });
  t.throws(() => emVariance(1, 10, { kind: 'half-cauchy', eta: 0 }), { name: 'RangeError', message: /eta: got 0/ });
  t.throws(() => emVariance(1, 10, { kind: 'half-cauchy', eta: Infinity }), { name: 'RangeError', message: /Infinity/ });
});

t.test('dampedVariance: α=1 gives fresh, α=0 gives old, convex mix between, floor at LAMBDA_MIN', async (t) => {
  t.equal(dampedVariance(0.3, 0.7, 1), 0.7);
  t.equal(dampedVariance(0.3, 0.7, 0), 0.3);
  t.ok(rel(dampedVariance(0.3, 0.7, 0.1), 0.9 * 0.3 + 0.1 * 0.7) <= 1e-15, 'α=0.1 (the NLP setting)');
  t.equal(dampedVariance(1e-300, 0, 1), LAMBDA_MIN, 'fresh 0 floored');
  t.equal(dampedVariance(0, 0, 0.5), LAMBDA_MIN, 'mix of zeros floored');
  t.equal(dampedVariance(1e-50, 1e-45, 0), LAMBDA_MIN, 'α=0 still floored');
  t.equal(dampedVariance(LAMBDA_MIN * 2, 0, 0.25), LAMBDA_MIN * 1.5, 'above the floor untouched');
  t.equal(LAMBDA_MIN, 1e-40, 's ≥ 1e-20 (METHOD §3.8)');
  t.throws(() => dampedVariance(1, 1, 1.5), { name: 'RangeError', message: /1\.5/ });
  t.throws(() => dampedVariance(1, 1, -0.1), { name: 'RangeError', message: /-0\.1/ });
});

t.test('aliveSlices: relative and absolute rule, never empty', async (t) => {
  const lam = [1, 5e-4, 2e-3, 1e-3, 0, 0.5];
  t.same(aliveSlices(lam, { rel: 1e-3, abs: 0 }), [0, 2, 3, 5], 'λ ≥ rel·max kept (1e-3 exactly on the edge is kept)');
  t.same(aliveSlices(lam, DEFAULT_RANK_THRESHOLD), [0, 5], 'default threshold (rel 1e-2)');
  t.same(aliveSlices(lam, { rel: 0.4, abs: 0 }), [0, 5]);
  // Scale invariance of the relative rule (METHOD §7 item 1): shrinking all λ by 1e-12 changes nothing.
  for (const scale of [1e-12, 1e-30, 1e12]) {
    t.same(aliveSlices(lam.map((x) => x * scale), { rel: 1e-3, abs: 0 }), [0, 2, 3, 5], `scale ${scale}`);
  }
  // ...whereas the absolute floor (METHOD §4's τ) is scale-dependent.
  t.same(aliveSlices(lam.map((x) => x * 1e-12), DEFAULT_RANK_THRESHOLD), [0], 'abs floor kills all but the largest');
  t.same(aliveSlices(lam, { rel: 0, abs: 1e-3 }), [0, 2, 5], 'abs only: λ > abs strictly (1e-3 itself is dead)');
  t.same(aliveSlices(lam, { rel: 0, abs: 0 }), [0, 1, 2, 3, 5], 'rel=0, abs=0: only exact zeros die');
  // Never empty (METHOD §7 item 13), the largest survives.
  t.same(aliveSlices([1e-20, 3e-20, 2e-20], DEFAULT_RANK_THRESHOLD), [1], 'all below abs: the largest stays');
  t.same(aliveSlices([0, 0, 0, 0], DEFAULT_RANK_THRESHOLD), [0], 'all zero: exactly one');
  t.same(aliveSlices([0, 0, 0, 0], { rel: 0, abs: 0 }), [0], 'all zero, zero thresholds: exactly one');
  t.same(aliveSlices([7], DEFAULT_RANK_THRESHOLD), [0]);
  // Ties.
  t.same(aliveSlices([2, 1e-9, 2, 2], DEFAULT_RANK_THRESHOLD), [0, 2, 3], 'tied maxima all alive');
  t.same(aliveSlices([1e-13, 1e-13], DEFAULT_RANK_THRESHOLD), [0], 'tied maxima below abs: only the first');
  t.same(aliveSlices(new Float64Array([1e-5, 1, 1e-4]), { rel: 1e-4, abs: 0 }), [1, 2], 'typed arrays; tie with rel·max');
  t.throws(() => aliveSlices([], DEFAULT_RANK_THRESHOLD), RangeError);
  t.throws(() => aliveSlices([1, NaN], DEFAULT_RANK_THRESHOLD), { name: 'RangeError', message: /rankVar\[1\].*NaN/ });
  t.throws(() => aliveSlices([1, -2], DEFAULT_RANK_THRESHOLD), { name: 'RangeError', message: /-2/ });
  t.throws(() => aliveSlices([1], { rel: 2, abs: 0 }), { name: 'RangeError', message: /rel: got 2/ });
});

t.test('parseRankThreshold', async (t) => {
  t.same(parseRankThreshold('1e-3'), { rel: 1e-3, abs: DEFAULT_RANK_THRESHOLD.abs });
  t.same(parseRankThreshold('1e-3,1e-12'), { rel: 1e-3, abs: 1e-12 });
  t.same(parseRankThreshold(' 0.01 , 0 '), { rel: 0.01, abs: 0 });
  t.same(parseRankThreshold('0,1e-7'), { rel: 0, abs: 1e-7 }, 'the reference code’s absolute τ alone');
  t.same(parseRankThreshold('1'), { rel: 1, abs: 1e-12 });
  for (const [bad, named] of [['abc', 'abc'], ['', '""'], ['1e-3,', 'ABS ""'], ['1e-3,x', 'ABS "x"'], ['-1e-3', '-1e-3'],
    ['2', 'REL "2"'], ['1e-3,-5', 'ABS "-5"'], ['1,2,3', '1,2,3'], ['Infinity', 'Infinity'], ['0x10', '0x10'], ['1e-3,Infinity', 'Infinity']]) {
    t.throws(() => parseRankThreshold(bad), { name: 'RangeError', message: new RegExp(named.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) }, `rejects "${bad}"`);
    t.throws(() => parseRankThreshold(bad), { message: /expected REL or REL,ABS/ }, `"${bad}": names the expected form`);
  }
});

t.test('klWeight and parseKlWarmup', async (t) => {
  const w = { start: 5, length: 50 }; // MNIST (METHOD §3.5)
  t.equal(klWeight(5e-5, 0, w), 0);
  t.equal(klWeight(5e-5, 5, w), 0);
  t.ok(rel(klWeight(5e-5, 30, w), 2.5e-5) <= 1e-15, 'halfway');
  t.ok(rel(klWeight(5e-5, 5.5, w), 5e-5 * 0.01) <= 1e-12, 'fractional epoch');
  t.equal(klWeight(5e-5, 55, w), 5e-5);
  t.equal(klWeight(5e-5, 100, w), 5e-5);
  t.equal(klWeight(2, 2.999, { start: 3, length: 0 }), 0, 'step: before start');
  t.equal(klWeight(2, 3, { start: 3, length: 0 }), 2, 'step: at start');
  t.equal(klWeight(2, 0, { start: 0, length: 0 }), 2, 'no warm-up');
  t.same(parseKlWarmup('5,50'), { start: 5, length: 50 });
  t.same(parseKlWarmup(' 0.5 , 0 '), { start: 0.5, length: 0 });
  for (const [bad, named] of [['5', '"5"'], ['5,50,1', '5,50,1'], ['-1,50', 'START "-1"'], ['5,-2', 'LENGTH "-2"'],
    ['a,1', 'START "a"'], ['1,', 'LENGTH ""'], ['1,Infinity', 'Infinity'], ['', '""']]) {
    t.throws(() => parseKlWarmup(bad), { name: 'RangeError', message: new RegExp(named.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) }, `rejects "${bad}"`);
    t.throws(() => parseKlWarmup(bad), { message: /START,LENGTH/ }, `"${bad}": names the expected form`);
  }
});

t.test('KL per entry and its gradient', async (t) => {
  t.equal(klEntry(0, 0.3, 0.09), 0, 'q = prior: KL = 0');
  t.equal(klEntry(0, 2, 4), 0);
  // Straight formula where it is well conditioned.
  const ref = (mu: number, s: number, l: number): number => 0.5 * (s * s / l + mu * mu / l - 1 - Math.log(s * s / l));
  for (const [mu, s, l] of [[0.3, 0.2, 0.5], [-1, 3, 0.1], [2e-3, 1e-9, 1e-2], [0, 1e-9, 1e-4], [0.5, 0.9, 0.5]]) {
    t.ok(rel(klEntry(mu, s, l), ref(mu, s, l)) <= 1e-12, `KL(${mu}, ${s}, ${l})`);
  }
  // σ = 1e-9 (the MAP setting): the constant part alone is ½(−1 − log(σ²/λ)) ≈ 13–14 nats (METHOD §3.2).
  t.ok(Math.abs(klEntry(0, 1e-9, 1e-4) - 0.5 * (1e-14 - 1 + Math.log(1e14))) <= 1e-12, 'σ=1e-9 constant ≈ 15.6 at λ=1e-4');
  // Near σ² = λ the σ-part is ≈ d²/2: must not be lost to cancellation.
  // (r − 1 − log r loses ~2ε/d relative here: 4e-7 at d = 1e-9.)
  for (const sigma of [1 + 5e-10, 1 - 2e-9, 1 + 5e-7, 1 - 3e-5, 1 + 2e-3]) {
    const s2 = sigma * sigma;
    const d = s2 - 1; // exact (Sterbenz), λ = 1
    const want = 0.5 * (d * d / 2 - d ** 3 / 3 + d ** 4 / 4 - d ** 5 / 5 + d ** 6 / 6 - d ** 7 / 7);
    t.ok(rel(klEntry(0, sigma, 1), want) <= 1e-10, `σ²/λ = 1 + ${d.toExponential(2)}: ${klEntry(0, sigma, 1)} vs ${want}`);
  }
  // Gradient vs central finite differences.
  for (const [mu, s, l] of [[0.3, 0.2, 0.5], [-1, 3, 0.1], [2e-3, 0.04, 1e-2], [0, 0.7, 0.5], [1e-3, 1e-3, 1e-6]]) {
    const g = klEntryGrad(mu, s, l);
    const hm = 1e-6 * Math.max(Math.abs(mu), 1e-3), hs = 1e-6 * s;
    const fdMu = (klEntry(mu + hm, s, l) - klEntry(mu - hm, s, l)) / (2 * hm);
    const fdS = (klEntry(mu, s + hs, l) - klEntry(mu, s - hs, l)) / (2 * hs);
    t.ok(Math.abs(g.dMu - fdMu) <= 1e-6 * Math.max(1, Math.abs(fdMu)), `dMu(${mu}, ${s}, ${l}): ${g.dMu} vs ${fdMu}`);
    t.ok(Math.abs(g.dSigma - fdS) <= 1e-6 * Math.max(1, Math.abs(fdS)), `dSigma(${mu}, ${s}, ${l}): ${g.dSigma} vs ${fdS}`);
  }
  t.same(klEntryGrad(0, 0.3, 0.09).dMu, 0);
  t.ok(Math.abs(klEntryGrad(0, 0.3, 0.09).dSigma) <= 1e-15, 'dSigma = 0 at σ² = λ');
});

t.test('softplus, sigmoid, softplusInverse', async (t) => {
  for (const x of [-1000, -745, -40, -5, -1e-3, 0, 1e-3, 0.7, 5, 40, 710, 1000]) {
    const sp = softplus(x), sg = sigmoid(x);
    t.ok(Number.isFinite(sp) && sp >= 0, `softplus(${x}) = ${sp} finite, ≥ 0`);
    t.ok(Number.isFinite(sg) && sg >= 0 && sg <= 1, `sigmoid(${x}) = ${sg} in [0,1]`);
    if (Math.abs(x) <= 30) t.ok(rel(sp, Math.log(1 + Math.exp(x))) <= 1e-12, `softplus(${x}) = log(1+eˣ)`);
    if (Math.abs(x) <= 30) t.ok(Math.abs(sg - 1 / (1 + Math.exp(-x))) <= 1e-15, `sigmoid(${x})`);
    // sigmoid is softplus' derivative.
    if (Math.abs(x) <= 40) {
      const h = 1e-5;
      t.ok(Math.abs((softplus(x + h) - softplus(x - h)) / (2 * h) - sg) <= 1e-8, `softplus'(${x}) = sigmoid`);
    }
  }
  t.equal(softplus(1000), 1000);
  t.equal(softplus(-1000), 0);
  t.ok(rel(softplus(-40), Math.exp(-40)) <= 1e-12, 'softplus(−40) ≈ e^−40 (relative precision kept)');
  t.equal(sigmoid(1000), 1);
  t.equal(sigmoid(-1000), 0);
  t.ok(rel(sigmoid(-700), Math.exp(-700)) <= 1e-12, 'sigmoid(−700) ≈ e^−700');
  t.equal(sigmoid(0), 0.5);
  for (const s of [1e-300, 1e-9, 1e-3, 0.5, Math.LN2, 1, 20, 40, 700, 1e6, 1e300]) {
    const rho = softplusInverse(s);
    t.ok(Number.isFinite(rho), `softplusInverse(${s}) = ${rho} finite`);
    t.ok(rel(softplus(rho), s) <= 1e-12, `softplus(softplusInverse(${s})) = ${softplus(rho)}`);
  }
  for (const x of [-600, -20.72, -3, 0, 2, 30]) {
    t.ok(Math.abs(softplusInverse(softplus(x)) - x) <= 1e-12 * Math.max(1, Math.abs(x)), `softplusInverse(softplus(${x}))`);
  }
  t.ok(Math.abs(softplusInverse(1e-9) - Math.log(1e-9)) <= 1e-8, 'ρ for σ = 1e-9 ≈ log 1e-9');
  t.throws(() => softplusInverse(0), { name: 'RangeError', message: /got 0/ });
  t.throws(() => softplusInverse(-1), { name: 'RangeError', message: /-1/ });
});

/** Deterministic uniform [0,1) stream (tests only). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

t.test('classificationMetrics: hand-computed cases', async (t) => {
  // 4 rows, 3 classes, 5 bins: (0,.2] (.2,.4] (.4,.6] (.6,.8] (.8,1].
  const probs = [
    0.9, 0.05, 0.05, // predicts 0, conf 0.9 → bin 4, label 0: right
    0.1, 0.7, 0.2, //   predicts 1, conf 0.7 → bin 3, label 2: wrong
    0.3, 0.25, 0.45, // predicts 2, conf 0.45 → bin 2, label 2: right
    0.15, 0.65, 0.2, // predicts 1, conf 0.65 → bin 3, label 1: right
  ];
  const labels = [0, 2, 2, 1];
  const m = classificationMetrics(probs, labels, 3, 5);
  t.equal(m.accuracy, 0.75);
  const nll = -(Math.log(0.9) + Math.log(0.2) + Math.log(0.45) + Math.log(0.65)) / 4;
  t.ok(rel(m.nll, nll) <= 1e-14, `nll ${m.nll} vs ${nll}`);
  // bin 4: 1 row, acc 1, conf 0.9; bin 3: 2 rows, acc 0.5, conf 0.675; bin 2: 1 row, acc 1, conf 0.45.
  const ece = (1 / 4) * 0.1 + (2 / 4) * Math.abs(0.5 - 0.675) + (1 / 4) * 0.55;
  t.ok(Math.abs(m.ece - ece) <= 1e-14, `ece ${m.ece} vs ${ece}`);
  // With one bin, ECE is |accuracy − mean confidence|.
  const one = classificationMetrics(probs, labels, 3, 1);
  t.ok(Math.abs(one.ece - Math.abs(0.75 - (0.9 + 0.7 + 0.45 + 0.65) / 4)) <= 1e-14, 'one bin');
  // Default 15 bins: 0.9 → (12/15, 13/15], 0.7 → (10/15, 11/15], 0.45 → (6/15, 7/15], 0.65 → (9/15, 10/15]; all separate.
  const def = classificationMetrics(probs, labels, 3);
  t.ok(Math.abs(def.ece - (0.1 + 0.7 + 0.55 + 0.35) / 4) <= 1e-14, `default bins: ${def.ece}`);
  // Bin edges: confidence exactly 0.4 (right) belongs to (0.2,0.4], 0.4000001 (wrong) to (0.4,0.6].
  const edge = classificationMetrics([0.4, 0.3, 0.3, 0.4000001, 0.3, 0.2999999], [0, 1], 3, 5);
  t.ok(Math.abs(edge.ece - (0.5 * 0.6 + 0.5 * 0.4000001)) <= 1e-14, `edge rows in different bins: ${edge.ece}`);
  const same = classificationMetrics([0.4, 0.3, 0.3, 0.4000001, 0.3, 0.2999999], [0, 1], 3, 2);
  t.ok(Math.abs(same.ece - Math.abs(0.5 - 0.40000005)) <= 1e-14, 'same rows in one bin');
  // Clamp: probability 0 on the label counts as 1e-12.
  const c = classificationMetrics([1, 0], [1], 2);
  t.ok(rel(c.nll, -Math.log(1e-12)) <= 1e-14, 'NLL clamped at 1e-12');
  // Argmax ties go to the first class.
  t.equal(classificationMetrics([0.5, 0.5], [0], 2).accuracy, 1);
  t.equal(classificationMetrics([0.5, 0.5], [1], 2).accuracy, 0);
  t.throws(() => classificationMetrics([0.5, 0.5], [2], 2), { name: 'RangeError', message: /labels\[0\].*2/ });
  t.throws(() => classificationMetrics([0.5, 0.5, 1], [0], 2), { name: 'RangeError', message: /probs.length.*3/ });
  t.throws(() => classificationMetrics([], [], 2), RangeError);
});

t.test('classificationMetrics: calibrated, miscalibrated and confident-wrong synthetic sets', async (t) => {
  const N = 40000, K = 4;
  const rnd = lcg(20240517);
  const build = (hitProb: (conf: number) => number): { probs: Float64Array; labels: Int32Array; meanConf: number } => {
    const probs = new Float64Array(N * K), labels = new Int32Array(N);
    let sum = 0;
    for (let i = 0; i < N; i++) {
      const pred = Math.floor(rnd() * K);
      const conf = 0.25 + 0.75 * rnd(); // max probability in (1/K, 1)
      for (let c = 0; c < K; c++) probs[i * K + c] = c === pred ? conf : (1 - conf) / (K - 1);
      sum += conf;
      // Correct with probability hitProb(conf); otherwise one of the other classes.
      labels[i] = rnd() < hitProb(conf) ? pred : (pred + 1 + Math.floor(rnd() * (K - 1))) % K;
    }
    return { probs, labels, meanConf: sum / N };
  };
  const cal = build((c) => c);
  const mc = classificationMetrics(cal.probs, cal.labels, K);
  t.ok(mc.ece < 0.015, `calibrated: ECE ${mc.ece.toFixed(4)} ≈ 0 (sampling noise)`);
  t.ok(Math.abs(mc.accuracy - cal.meanConf) < 0.01, `calibrated: accuracy ${mc.accuracy.toFixed(4)} ≈ mean confidence ${cal.meanConf.toFixed(4)}`);
  const over = build((c) => c * c); // overconfident: accuracy c² at confidence c
  const mo = classificationMetrics(over.probs, over.labels, K);
  // E[c − c²] for c ~ U(0.25, 1) = 0.625 − 0.4375 = 0.1875.
  t.ok(Math.abs(mo.ece - 0.1875) < 0.015, `overconfident: ECE ${mo.ece.toFixed(4)} ≈ 0.1875`);
  // Confident and always wrong: ECE → confidence.
  const wrong = new Float64Array(1000 * 2), wl = new Int32Array(1000);
  for (let i = 0; i < 1000; i++) { wrong[2 * i] = 0.999; wrong[2 * i + 1] = 0.001; wl[i] = 1; }
  const mw = classificationMetrics(wrong, wl, 2);
  t.equal(mw.accuracy, 0);
  t.ok(Math.abs(mw.ece - 0.999) <= 1e-12, `confident-wrong: ECE ${mw.ece}`);
  t.ok(rel(mw.nll, -Math.log(0.001)) <= 1e-12, 'confident-wrong: NLL = −log 0.001');
});
