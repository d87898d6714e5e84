// `btnn data synth-criteo`: a click log in the Criteo Kaggle text format (criteo.ts) whose click
// model is known, since the real log cannot be downloaded here. Per table, ids follow a Zipf-like
// law (P(rank k) ∝ (k+1)^-1.1) scattered over the table by a fixed bijection, and a categorical
// field is written as id + V·m for a random m (V the table's rows): it looks like a 32-bit hash
// and hashes back (mod V) to the id exactly, so a model with the same table sizes sees the
// planted ids. Some fields are empty (id 0), as in the real log.
//
// The hidden click model: logit = b + Σ_j w_j·log(1+I_j) + Σ_t a_t·s_t(id_t) + c·s_C3·s_C4, with
// s_t a unit-variance score per id. For the five large tables (C3, C4, C12, C16, C21: the ones
// the paper tensorizes) s_t is a planted tensor train over the table's vocabulary modes
// (METHOD.md §1.9's shapes for the Kaggle sizes) with bond ranks [1, r, r, 1] (--planted-rank);
// the other tables get an independent N(0, 1) per id. b is set for a 26 % click rate (Criteo's).
// The sidecar JSON states all of this plus the planted model's own test accuracy, AUC and log
// loss on the held-out split (the last ⌈n/7⌉ rows): the best any model can do.
import { closeSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { HostRng } from '../util/rng.js';
import { CRITEO_CATS, CRITEO_DENSE, CRITEO_TEST_SPLIT, KAGGLE_CARDINALITIES, CATEGORICAL_INPUTS } from './criteo.js';
import { DataError } from './dataset.js';
import { Progress, type LogStream } from '../util/progress.js';
import { binaryMetrics } from '../util/metrics.js';

/** Table positions (0-based, C1 = 0) the paper tensorizes; planted low-rank here. */
export const PLANTED_TABLES = [2, 3, 11, 15, 20];
/** METHOD.md §1.9: the vocabulary shapes of the five large Kaggle tables. */
const KAGGLE_VOCAB_MODES: Record<number, number[]> = { 2: [200, 220, 250], 3: [125, 130, 136], 11: [200, 200, 209], 15: [166, 175, 188], 20: [200, 200, 200] };
const ZIPF_S = 1.1;
const CLICK_RATE = 0.26;

export interface SynthOptions {
  rows: number;
  seed: number;
  out: string;
  /** 26 table sizes (default: Criteo Kaggle's). */
  cardinalities?: number[];
  /** Bond rank of the planted tensor trains (default 4). */
  plantedRank?: number;
  log?: LogStream | null;
}

export interface PlantedTable { input: string; cardinality: number; vocabModes: number[]; ranks: number[] }

export interface SynthSidecar {
  format: 'btnn synth-criteo';
  version: 1;
  rows: number;
  seed: number;
  cardinalities: number[];
  zipfExponent: number;
  emptyShare: number[];
  planted: PlantedTable[];
  clickModel: { bias: number; denseWeights: number[]; tableWeights: number[]; interaction: { tables: [string, string]; weight: number } };
  clickRate: number;
  /** The planted model's own predictions on the held-out rows (the last ⌈rows/7⌉). */
  heldOut: { rows: number; accuracy: number; auc: number; logLoss: number };
}

/** Three modes whose product covers v, as equal as they come (v^{1/3} rounded up). */
export function vocabModesFor(v: number, index: number): number[] {
  if (KAGGLE_VOCAB_MODES[index] && v === KAGGLE_CARDINALITIES[index]) return KAGGLE_VOCAB_MODES[index];
  const a = Math.max(1, Math.ceil(Math.cbrt(v))), b = Math.max(1, Math.ceil(Math.sqrt(v / a)));
  return [a, b, Math.max(1, Math.ceil(v / (a * b)))];
}

const gcd = (a: number, b: number): number => { while (b) [a, b] = [b, a % b]; return a; };

/** Per-id scores of a planted TT over `modes` with bond rank r, scaled to unit variance over the first v ids. */
function plantedScores(rng: HostRng, modes: number[], r: number, v: number): { score: (id: number) => number } {
  const [m1, m2, m3] = modes;
  const g1 = Float64Array.from({ length: m1 * r }, () => rng.normal());
  const g2 = Float64Array.from({ length: r * m2 * r }, () => rng.normal());
  const g3 = Float64Array.from({ length: r * m3 }, () => rng.normal());
  const raw = (id: number): number => {
    const t3 = id % m3, rest = (id - t3) / m3, t2 = rest % m2, t1 = (rest - t2) / m2;
    let s = 0;
    for (let a = 0; a < r; a++) {
      const x = g1[t1 * r + a];
      for (let b = 0; b < r; b++) s += x * g2[(a * m2 + t2) * r + b] * g3[b * m3 + t3];
    }
    return s;
  };
  // Each entry is a sum of r² products of three N(0,1): variance r².
  const scale = 1 / r;
  return { score: (id) => raw(id % v) * scale };
}

export function synthCriteo(o: SynthOptions): SynthSidecar {
  const cards = o.cardinalities ?? KAGGLE_CARDINALITIES;
  if (cards.length !== CRITEO_CATS || cards.some((c) => !(Number.isSafeInteger(c) && c >= 1 && c <= 2 ** 26))) {
    throw new DataError(`--cardinalities: need ${CRITEO_CATS} table sizes, integers in 1..2^26 (ids are mixed in exact f64 arithmetic; got ${cards.length}: ${cards.slice(0, 4).join(',')}…)`);
  }
  if (!(Number.isSafeInteger(o.rows) && o.rows >= 8)) throw new DataError(`--rows ${o.rows}: must be an integer >= 8`);
  const r = o.plantedRank ?? 4;
  if (!(Number.isInteger(r) && r >= 1 && r <= 32)) throw new DataError(`--planted-rank ${r}: must be an integer in 1..32`);
  const model = new HostRng(o.seed, 1), draw = new HostRng(o.seed, 2);
  const planted: PlantedTable[] = [];
  const score: ((id: number) => number)[] = cards.map((v, t) => {
    if (PLANTED_TABLES.includes(t)) {
      const modes = vocabModesFor(v, t);
      planted.push({ input: CATEGORICAL_INPUTS[t], cardinality: v, vocabModes: modes, ranks: [1, r, r, 1] });
      return plantedScores(model, modes, r, v).score;
    }
    const s = Float32Array.from({ length: v }, () => model.normal());
    return (id: number) => s[id];
  });
  // Bijections rank → id, and the empty share per table (a few tables are often empty, like Kaggle's).
  const mult = cards.map((v) => { let a = (model.nextU32() >>> 1) % v || 1; while (gcd(a, v) !== 1) a = (a + 1) % v || 1; return a; });
  const shift = cards.map((v) => model.below(v));
  const emptyShare = cards.map((_, t) => (t % 5 === 4 ? 0.3 : 0.02));
  const denseWeights = Array.from({ length: CRITEO_DENSE }, () => 0.15 * model.normal());
  const denseMu = Array.from({ length: CRITEO_DENSE }, () => 0.5 + 2 * model.uniform());
  const tableWeights = cards.map((_, t) => (PLANTED_TABLES.includes(t) ? 0.7 : 0.15) * (model.uniform() < 0.5 ? -1 : 1));
  const interaction = { tables: ['C3', 'C4'] as [string, string], weight: 0.4 };
  const zipf = cards.map((v) => { const e = 1 - ZIPF_S, top = (v + 1) ** e - 1; return (u: number): number => Math.min(v - 1, Math.floor((top * u + 1) ** (1 / e)) - 1); });

  // One pass to fix the bias from the logits' mean is two passes of draws: instead, b is solved on
  // a pilot sample of 20 000 rows of the same model (its own stream), then the log is written.
  const rowLogit = (rng: HostRng, fields: string[] | null): number => {
    let z = 0;
    for (let j = 0; j < CRITEO_DENSE; j++) {
      const miss = rng.uniform() < 0.1;
      // I2 is sometimes negative in the real log; the reader takes log(1 + max(x, 0)) = 0 of it, and so does the model.
      const negative = j === 1 && rng.uniform() < 0.05;
      const x = miss || negative ? 0 : Math.max(0, Math.floor(Math.exp(denseMu[j] + rng.normal()) - 1));
      if (fields) fields[1 + j] = miss ? '' : String(negative ? -1 : x);
      z += denseWeights[j] * (Math.log1p(x) - denseMu[j]);
    }
    let s3 = 0, s4 = 0;
    for (let t = 0; t < CRITEO_CATS; t++) {
      const v = cards[t];
      const empty = rng.uniform() < emptyShare[t];
      const id = empty ? 0 : (mult[t] * zipf[t](rng.uniform()) + shift[t]) % v;
      const s = score[t](id);
      z += tableWeights[t] * s;
      if (t === 2) s3 = s;
      if (t === 3) s4 = s;
      if (fields) {
        const room = Math.floor((0xffffffff - id) / v);
        fields[1 + CRITEO_DENSE + t] = empty ? '' : (id + v * rng.below(room + 1)).toString(16).padStart(8, '0');
      }
    }
    return z + interaction.weight * s3 * s4;
  };
  const pilot = new HostRng(o.seed, 3);
  const pilotLogits = Float64Array.from({ length: 20000 }, () => rowLogit(pilot, null));
  const bias = solveBias(pilotLogits, CLICK_RATE);

  const testRows = Math.ceil(o.rows * CRITEO_TEST_SPLIT), firstTest = o.rows - testRows;
  const probs = new Float64Array(testRows), labels = new Uint8Array(testRows);
  const tmp = `${o.out}.${process.pid}.tmp`;
  let fd: number;
  try { fd = openSync(tmp, 'w'); } catch (err) { throw new DataError(`--out ${o.out}: cannot write there (${(err as NodeJS.ErrnoException).code}); choose a writable path`); }
  const progress = o.log ? new Progress(`synth-criteo ${o.out}`, o.rows, o.log) : null;
  let ok = false, clicks = 0;
  try {
    const fields = new Array<string>(1 + CRITEO_DENSE + CRITEO_CATS);
    let chunk: string[] = [];
    for (let i = 0; i < o.rows; i++) {
      const p = sigmoid(bias + rowLogit(draw, fields));
      const y = draw.uniform() < p ? 1 : 0;
      clicks += y;
      fields[0] = String(y);
      chunk.push(fields.join('\t'));
      if (i >= firstTest) { probs[i - firstTest] = p; labels[i - firstTest] = y; }
      if (chunk.length === 4096 || i === o.rows - 1) {
        writeSync(fd, chunk.join('\n') + '\n');
        chunk = [];
        progress?.update(i + 1, `${i + 1} rows`);
      }
    }
    closeSync(fd);
    renameSync(tmp, o.out);
    ok = true;
  } finally {
    if (!ok) { try { closeSync(fd); } catch { /* closed */ } rmSync(tmp, { force: true }); }
  }
  progress?.done(`${o.rows} rows, click rate ${(clicks / o.rows).toFixed(4)}`);
  const m = binaryMetrics(Float64Array.from(probs, (p) => Math.log(p / (1 - p))), labels);
  const sidecar: SynthSidecar = {
    format: 'btnn synth-criteo', version: 1, rows: o.rows, seed: o.seed, cardinalities: cards, zipfExponent: ZIPF_S, emptyShare, planted,
    clickModel: { bias, denseWeights, tableWeights, interaction }, clickRate: clicks / o.rows,
    heldOut: { rows: testRows, accuracy: m.accuracy, auc: m.auc, logLoss: m.logLoss },
  };
  writeFileSync(`${o.out}.json`, JSON.stringify(sidecar, null, 1) + '\n');
  return sidecar;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** b with mean sigmoid(b + z) = rate (bisection; the mean is increasing in b). */
function solveBias(z: Float64Array, rate: number): number {
  let lo = -20, hi = 20;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    let m = 0;
    for (const x of z) m += sigmoid(mid + x);
    if (m / z.length < rate) lo = mid; else hi = mid;
  }
  return (lo + hi) / 2;
}
