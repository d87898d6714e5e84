// Automatic mode factorisations for `--hidden 512,256`: every layer width folded into modes the
// way TensorLy-Torch's `tensorized_features="auto"` (get_tensorized_shape) does, a balanced split
// of the width's prime factors, with a layer-shape rule per format on top.
//
//   factorize(n, d)   the most even split of n into d factors >= 2 (smallest max/min ratio, then the
//                     smallest spread of log-factors, then lexicographic), largest factor first;
//                     null when n has fewer than d prime factors.
//   autoModes         flat formats (cp, tucker, tt, tr): each side on its own, the fewest modes (2,
//                     then 3) whose factors are all <= 32 and at most 8x apart, else 3 modes at most
//                     8x apart. TTM: the largest d in 4..2 that splits both sides at most 8x apart.
//                     Widths 2 and 3 cannot be split: one mode [n] (TTM: [n, 1, …], see below).
//                     inModes run largest first, outModes largest last (the ends of the chain
//                     [in…, out…]), as defaults.ts folds 784-512-10 by hand: [28,28 | 16,32] and
//                     [32,16 | 10]. For TT/TR the boundary cores are [1 × n × r] (cheap) and the
//                     unfolding caps r_1 <= n_0, r_{d-1} <= n_{d-1} are loosest with big end modes;
//                     for TTM it pairs the largest input with the smallest output mode, evening out
//                     the core sizes a_k·b_k (512→10: (32,2),(16,5) rather than (32,5),(16,2)).
//   errors            a width with no modes (a prime, 2·509, …) is named with the reason and the
//                     nearest larger width with no prime factor above 7 that the rule accepts.
//   hiddenSpec        x [inputWidth] → fc1 … fcK+1 with an activation between, softmax cross-entropy.
import { defaultMaxRank } from './formats.js';
import { linearLayer } from './defaults.js';
import { formatOf } from '../formats/index.js';
import { SpecError, type LayerFormat, type LayerSpec, type ModelSpec } from './types.js';
import { validateSpec } from './validate.js';

/** The widest a factor may be relative to the narrowest of the same side. */
export const MAX_MODE_RATIO = 8;
/** Flat formats take the fewest modes whose factors stay at or below this (the favoured 4..32). */
export const FLAT_MODE_TARGET = 32;
/** Flat formats fold each side into 1..3 modes (1 only for the unsplittable widths 2 and 3). */
export const FLAT_MAX_MODES = 3;
/** TTM folds both sides into the same d in TTM_MIN_ORDER..TTM_MAX_ORDER paired modes. */
export const TTM_MIN_ORDER = 2;
export const TTM_MAX_ORDER = 4;
/** Where the search for a suggested width gives up (a width that large is not a typo). */
const SUGGEST_SPAN = 4096;

/** Prime factors of n (n >= 1), ascending; [] for 1. */
export function primeFactors(n: number): number[] {
  const out: number[] = [];
  let m = n;
  for (let p = 2; p * p <= m; p++) while (m % p === 0) { out.push(p); m /= p; }
  if (m > 1) out.push(m);
  return out;
}

function divisors(n: number): number[] {
  const small: number[] = [], large: number[] = [];
  for (let i = 1; i * i <= n; i++) {
    if (n % i !== 0) continue;
    small.push(i);
    if (i !== n / i) large.push(n / i);
  }
  return [...small, ...large.reverse()];
}

const ratio = (f: number[]): number => f[0] / f[f.length - 1];
const logSpread = (f: number[]): number => {
  const logs = f.map(Math.log);
  const mean = logs.reduce((s, x) => s + x, 0) / logs.length;
  return logs.reduce((s, x) => s + (x - mean) ** 2, 0);
};

/** a better (more even) than b: smaller max/min ratio, then smaller log spread, then lexicographically smaller. */
function moreEven(a: number[], b: number[]): boolean {
  const ra = ratio(a), rb = ratio(b);
  if (ra !== rb) return ra < rb;
  const sa = logSpread(a), sb = logSpread(b);
  if (Math.abs(sa - sb) > 1e-12) return sa < sb;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/**
 * The most even factorisation of n into `order` factors >= 2, largest first (n = 784, order 2:
 * [28, 28]; order 3: [14, 8, 7]; order 4: [7, 7, 4, 4]); null if n has fewer than `order` prime
 * factors (or n, order are not positive integers).
 */
export function factorize(n: number, order: number): number[] | null {
  if (!Number.isSafeInteger(n) || !Number.isInteger(order) || n < 2 || order < 1) return null;
  if (primeFactors(n).length < order) return null;
  const divs = divisors(n).filter((x) => x >= 2);
  let best: number[] | null = null;
  // Factors in non-increasing order: f_1 >= f_2 >= … >= f_order >= 2.
  const walk = (rest: number, k: number, max: number, acc: number[]): void => {
    if (k === 1) {
      if (rest >= 2 && rest <= max) {
        const f = [...acc, rest];
        if (best === null || moreEven(f, best)) best = f;
      }
      return;
    }
    for (const f of divs) {
      if (f > max || f > rest) break;
      if (rest % f !== 0 || f ** k < rest) continue; // f is the largest of the k left: f^k >= rest
      if (rest / f < 2 ** (k - 1)) continue;
      walk(rest / f, k - 1, f, [...acc, f]);
    }
  };
  walk(n, order, n, []);
  return best;
}

/** A factorisation within the ratio rule (1 factor: always), else null. */
function evenSplit(n: number, order: number): number[] | null {
  const f = factorize(n, order);
  return f !== null && ratio(f) <= MAX_MODE_RATIO ? f : null;
}

/** Widths too small to split (no factorisation into >= 2 factors >= 2 exists): one mode. */
const unsplittable = (n: number): boolean => n === 2 || n === 3;

/** One side of a flat format (largest first), or null. */
function flatSide(n: number): number[] | null {
  if (unsplittable(n)) return [n];
  for (let d = 2; d <= FLAT_MAX_MODES; d++) {
    const f = evenSplit(n, d);
    if (f !== null && f[0] <= FLAT_MODE_TARGET) return f;
  }
  return evenSplit(n, FLAT_MAX_MODES) ?? evenSplit(n, 2);
}

/** The TTM orders (TTM_MAX_ORDER down to TTM_MIN_ORDER) whose even split of n exists. */
function ttmOrders(n: number): number[] {
  const out: number[] = [];
  for (let d = TTM_MAX_ORDER; d >= TTM_MIN_ORDER; d--) if (unsplittable(n) || evenSplit(n, d) !== null) out.push(d);
  return out;
}

/** n as TTM modes of order d, largest first; 2 and 3 padded with 1s (one core carries them). */
const ttmSide = (n: number, d: number): number[] => unsplittable(n) ? [n, ...Array<number>(d - 1).fill(1)] : evenSplit(n, d)!;

const show = (f: number[]): string => f.join('·');
const ascending = (f: number[]): number[] => [...f].reverse();

/** Why n has no modes under the rule, for an error message. */
function whyNot(n: number, what: string): string {
  if (!Number.isSafeInteger(n) || n < 1) return `${n} is not a positive integer width`;
  if (n === 1) return `1 has no factor >= 2: no ${what} modes`;
  const p = primeFactors(n);
  if (p.length === 1) return `${n} is prime: no ${what} modes`;
  const f = factorize(n, 2)!;
  return `${n} = ${show(p)}: its most even split ${show(f)} has factors ${Math.round(ratio(f))}x apart (at most ${MAX_MODE_RATIO}x for ${what} modes)`;
}

/** Suggested widths have no prime factor above this (510 = 2·3·5·17 splits, but only as 30·17). */
export const SUGGEST_MAX_PRIME = 7;

/** The smallest 7-smooth width above n that `modes` accepts, with its modes, or null. */
function suggest(n: number, modes: (m: number) => number[] | null): { width: number; modes: number[] } | null {
  for (let m = Math.max(n + 1, 2); m <= n + SUGGEST_SPAN; m++) {
    if (primeFactors(m).some((p) => p > SUGGEST_MAX_PRIME)) continue;
    const f = modes(m);
    if (f !== null) return { width: m, modes: f };
  }
  return null;
}

function advice(s: { width: number; modes: number[] } | null): string {
  return s === null ? 'choose a width with more small prime factors' : `use ${s.width} (= ${show(s.modes)})`;
}

export type AutoModes = { inModes: number[]; outModes: number[] } | { error: string };

/**
 * Modes for a [nIn × nOut] layer of `format` (dense: none, so {inModes: [], outModes: []}), or an
 * error naming the width, why it has no modes, and the nearest larger width that has.
 */
export function autoModes(nIn: number, nOut: number, format: LayerFormat): AutoModes {
  const f = formatOf(format);
  if (!f.tensorized) return { inModes: [], outModes: [] };
  const what = format.toUpperCase();
  if (f.pairsModes) {
    const ins = ttmOrders(nIn), outs = ttmOrders(nOut);
    const common = ins.filter((d) => outs.includes(d));
    if (common.length > 0) {
      const d = common[0];
      return { inModes: ttmSide(nIn, d), outModes: ascending(ttmSide(nOut, d)) };
    }
    // The side that fails on its own, else (both split, but into no common order) the output side.
    const [bad, other] = ins.length === 0 ? [nIn, outs] : outs.length === 0 ? [nOut, ins] : [nOut, ins];
    const fits = (m: number): number[] | null => {
      const d = ttmOrders(m).find((x) => other.length === 0 || other.includes(x));
      return d === undefined || unsplittable(m) ? null : ttmSide(m, d);
    };
    const why = ins.length > 0 && outs.length > 0
      ? `${nIn} splits into ${ins.join(' or ')} TTM modes but ${nOut} into ${outs.join(' or ')}: a TTM layer needs as many output as input modes`
      : whyNot(bad, what);
    return { error: `${why}; ${advice(suggest(bad, fits))}` };
  }
  const a = flatSide(nIn), b = flatSide(nOut);
  const bad = a === null ? nIn : b === null ? nOut : null;
  if (bad !== null) return { error: `${whyNot(bad, what)}; ${advice(suggest(bad, (m) => unsplittable(m) ? null : flatSide(m)))}` };
  return { inModes: a!, outModes: ascending(b!) };
}

export interface HiddenOptions {
  inputWidth: number;
  classes: number;
  /** Hidden layer widths, input side first ([] : one linear layer inputWidth → classes). */
  hidden: number[];
  format: LayerFormat;
  /** Default: the format's (defaultMaxRank). */
  maxRank?: number;
  /** Between the linear layers; default relu. */
  activation?: 'relu' | 'tanh' | 'sigmoid';
}

/**
 * The network x [inputWidth] → fc1 → act → … → fc(K+1) [classes], softmax cross-entropy, every
 * linear layer of `format` with autoModes. Throws a SpecError naming --hidden and the width that
 * has no modes; the spec returned has passed validateSpec.
 */
export function hiddenSpec(o: HiddenOptions): ModelSpec {
  const flag = o.hidden.length > 0 ? `--hidden ${o.hidden.join(',')}` : '--hidden (none)';
  const bad = (v: number): boolean => !Number.isSafeInteger(v) || v < 1;
  o.hidden.forEach((w) => { if (bad(w)) throw new SpecError(`${flag}: ${w} is not a width; widths are integers >= 1`); });
  if (bad(o.inputWidth)) throw new SpecError(`${flag}: the input width ${o.inputWidth} must be an integer >= 1`);
  if (!Number.isSafeInteger(o.classes) || o.classes < 2) throw new SpecError(`${flag}: ${o.classes} classes; softmax cross-entropy needs at least 2`);
  const maxRank = o.maxRank ?? defaultMaxRank(o.format);
  const act = o.activation ?? 'relu';
  const widths = [o.inputWidth, ...o.hidden, o.classes];
  const layers: LayerSpec[] = [];
  for (let i = 0; i + 1 < widths.length; i++) {
    const name = `fc${i + 1}`;
    const [nIn, nOut] = [widths[i], widths[i + 1]];
    const m = autoModes(nIn, nOut, o.format);
    if ('error' in m) {
      const side = i === 0 ? `the input width ${nIn}` : `hidden width ${nIn}`;
      const other = i + 2 === widths.length ? `the ${nOut} classes` : `hidden width ${nOut}`;
      throw new SpecError(`${flag}: ${name} (${side} → ${other}): ${m.error}`);
    }
    layers.push(formatOf(o.format).tensorized
      ? linearLayer(name, o.format, m.inModes, m.outModes, maxRank)
      : { kind: 'linear', name, format: o.format, inFeatures: nIn, outFeatures: nOut });
    if (i + 2 < widths.length) layers.push({ kind: 'activation', name: `${name}_${act}`, fn: act });
  }
  return validateSpec({
    version: 2,
    inputs: [{ name: 'x', dtype: 'f32', shape: [o.inputWidth] }],
    layers,
    loss: { kind: 'softmax-xent' },
  } satisfies ModelSpec);
}
