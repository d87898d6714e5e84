// A dataset meets a model: the network built for it when the user gives none (the default MNIST
// network, or an MLP over its columns with an embedding per categorical column), the spec's
// inputs bound to the dataset's columns (checked: names, widths, dtypes, targets against the
// loss), the training split's standardisation statistics, and the rows the runtime reads.
import type { Column, Dataset } from '../data/dataset.js';
import { DataError } from '../data/dataset.js';
import { forEachChunk, type FileBytes } from '../data/file-bytes.js';
import { FileColumn, HashedIds } from '../data/row-file.js';
import { defaultSpec, linearLayer } from '../spec/defaults.js';
import { autoModes } from '../spec/auto-modes.js';
import { formatOf } from '../formats/index.js';
import { buildGraph } from '../spec/graph.js';
import { validateSpec } from '../spec/validate.js';
import { SpecError, isGlobalNorm, type InputNorm, type InputSpec, type LayerFormat, type LayerSpec, type ModelSpec } from '../spec/types.js';
import type { DataSource } from '../runtime/runtime.js';

/** Width of each categorical column's embedding in a network btnn builds. */
export const AUTO_EMBEDDING_DIM = 8;

/** The range a u8 column's bytes stand for: byte / range (IDX pixels: 255). */
const rangeOf = (c: Column): number => Math.round(1 / (c.scale ?? 1 / 255));

/** One image input of 784 values and 10 classes: what the default network was built for. */
export const isMnistShaped = (d: Dataset): boolean => d.inputs.length === 1 && d.inputs[0].width === 784 && d.inputs[0].dtype !== 'i32' &&
  d.target.kind === 'classes' && d.target.classes === 10;

/**
 * The network for a dataset when the user gives no spec: MNIST-shaped data without --hidden gets
 * the default 784-512-10 network; anything else an MLP over the numeric block and one embedding
 * per categorical column (concatenated), with `hidden` layers (default [64]) whose modes are
 * chosen automatically, ending in softmax (classes) or MSE (values).
 */
export function specForData(data: Dataset, o: { format: LayerFormat; maxRank: number; hidden?: number[] }): ModelSpec {
  if (!o.hidden && isMnistShaped(data)) return defaultSpec(o.format, o.maxRank);
  const inputs: InputSpec[] = data.inputs.map((c) => ({ name: c.name, dtype: c.dtype, shape: [c.width], ...(c.dtype === 'u8' ? { range: rangeOf(c) } : {}) }));
  // Layer names the data's own column names do not take (a CSV may well have a column "fc1").
  const taken = new Set(inputs.map((x) => x.name));
  const fresh = (base: string): string => { let n = base; while (taken.has(n)) n = `_${n}`; taken.add(n); return n; };
  const layers: LayerSpec[] = [];
  const features: string[] = [];
  for (const c of data.inputs) {
    if (c.dtype !== 'i32') { features.push(c.name); continue; }
    if (c.hashed) throw new SpecError(`${data.name}: ${c.name} holds hashed categories, whose table sizes are the model's to choose; give --spec (e.g. examples/dlrm-kaggle.json, or a smaller DLRM of your own)`);
    if (c.width > 1) throw new SpecError(`${data.name}: ${c.name} holds ${c.width} ids per row (a bag of tokens), whose table, pooling and classifier are the model's to choose; give --spec (e.g. examples/spam.json)`);
    let rows = c.vocab?.length ?? 0;
    if (!c.vocab) for (const v of c.data as Int32Array) rows = Math.max(rows, v + 1);
    const name = fresh(`emb_${c.name}`);
    layers.push({ kind: 'embedding', name, input: c.name, rows, dim: AUTO_EMBEDDING_DIM, format: 'dense', inFeatures: rows, outFeatures: AUTO_EMBEDDING_DIM });
    features.push(name);
  }
  let width = data.inputs.reduce((s, c) => s + (c.dtype === 'i32' ? AUTO_EMBEDDING_DIM : c.width), 0);
  let prev = features[0];
  if (features.length > 1) { prev = fresh('features'); layers.push({ kind: 'concat', name: prev, inputs: features }); }
  const out = data.target.kind === 'classes' ? data.target.classes : data.target.width;
  const widths = [...(o.hidden ?? [64]), out];
  widths.forEach((w, i) => {
    const name = fresh(`fc${i + 1}`);
    let layer;
    const m = formatOf(o.format).tensorized ? autoModes(width, w, o.format) : null;
    if (m && 'error' in m) {
      // The data fixes the first layer's input and the last layer's output: when that width has
      // no modes (1 output, a prime class count, one numeric column) the layer is dense; a hidden
      // width without modes is the user's to change.
      const alone = (n: number): boolean => !('error' in autoModes(n, n, o.format));
      const dataWidth = (i === 0 && !alone(width)) || (i === widths.length - 1 && !alone(w));
      if (!dataWidth) throw new SpecError(`${o.hidden ? `--hidden ${o.hidden.join(',')}` : 'the network for the data'}: ${name} (${width} → ${w}): ${m.error}; or use --format dense`);
      layer = linearLayer(name, 'dense', [width], [w], o.maxRank, prev);
    } else {
      layer = m ? linearLayer(name, o.format, m.inModes, m.outModes, o.maxRank, prev) : linearLayer(name, 'dense', [width], [w], o.maxRank, prev);
    }
    layers.push(layer);
    prev = name;
    if (i + 1 < widths.length) { const act = fresh(`${name}_relu`); layers.push({ kind: 'activation', name: act, fn: 'relu' }); prev = act; }
    width = w;
  });
  return validateSpec({ version: 2, inputs, layers, loss: { kind: data.target.kind === 'classes' ? 'softmax-xent' : 'mse' } });
}

/**
 * The spec with its inputs bound to the dataset's columns, checked: every input has a column of
 * its name (a one-input spec takes a one-column dataset whatever the names), the same width, and
 * a dtype it can read (an f32 input declared by btnn 0.1 models reads a u8 column as bytes / range,
 * in the core); the loss fits the target. Errors say what the model wants and what the data has.
 */
export function bindSpec(spec: ModelSpec, data: Dataset): ModelSpec {
  const graph = buildGraph(spec);
  const byName = new Map(data.inputs.map((c) => [c.name, c]));
  const have = data.inputs.map((c) => `${c.name} (${c.dtype} × ${c.width})`).join(', ');
  const inputs = spec.inputs.map((x, i) => {
    const c = byName.get(x.name) ?? (spec.inputs.length === 1 && data.inputs.length === 1 ? data.inputs[0] : undefined);
    const width = graph.values.get(x.name)!.width;
    if (!c) throw new SpecError(`spec.inputs[${i}] ${x.name}: ${data.name} has no such column (it has ${have}); name the spec's inputs after the data's`);
    if (c.width !== width) throw new SpecError(`spec.inputs[${i}] ${x.name}: the model reads ${width} values per row, ${data.name}'s ${c.name} has ${c.width}`);
    const ok = x.dtype === c.dtype || (x.dtype === 'f32' && c.dtype === 'u8');
    if (!ok) throw new SpecError(`spec.inputs[${i}] ${x.name}: the model reads ${x.dtype}, ${data.name}'s ${c.name} is ${c.dtype}${c.dtype === 'i32' ? ' (category ids: feed them to an embedding layer)' : ''}`);
    if (c.dtype === 'u8' && x.dtype === 'f32' && spec.inputNorm && !isGlobalNorm(spec.inputNorm) && spec.inputNorm[x.name]) {
      // Bytes are standardised by one table per input: per-feature statistics cannot apply.
      throw new SpecError(`spec.inputNorm.${x.name}: per-feature statistics, but ${data.name}'s ${c.name} is bytes (u8), standardised with one mean and std; drop inputNorm (btnn computes it) or give {"mean": m, "std": s}`);
    }
    return c.dtype === 'u8' ? { ...x, dtype: 'u8' as const, range: x.range ?? rangeOf(c) } : x;
  });
  // Category ids the table cannot hold would be refused row by row; say it once, here.
  for (const l of spec.layers) {
    if (l.kind !== 'embedding') continue;
    const c = byName.get(l.input) ?? data.inputs[0];
    if (c.vocab && c.vocab.length > l.rows) throw new SpecError(`layer ${l.name}: rows = ${l.rows}, but ${data.name}'s ${c.name} has ${c.vocab.length} ids (vocabulary + the reserved unseen id 0); raise rows`);
  }
  for (const x of spec.inputs) if (byName.get(x.name)?.hashed) hashBuckets(spec, x.name);
  const out = graph.values.get(graph.lossInput)!.width;
  const t = data.target;
  if (spec.loss.kind === 'softmax-xent' && (t.kind !== 'classes' || t.classes !== out)) {
    throw new SpecError(`spec.loss softmax-xent on ${graph.lossInput} (width ${out}): ${data.name} has ${t.kind === 'classes' ? `${t.classes} classes; the layer needs width ${t.classes}` : `a numeric target of width ${t.width}; use "mse"`}`);
  }
  if (spec.loss.kind !== 'softmax-xent' && (t.kind !== 'values' || t.width !== out)) {
    throw new SpecError(`spec.loss ${spec.loss.kind} on ${graph.lossInput} (width ${out}): ${data.name} has ${t.kind === 'values' ? `a target of width ${t.width}` : `${t.classes} classes; use "softmax-xent" on a layer of width ${t.classes}`}`);
  }
  return { ...spec, inputs };
}

/** The rows the runtime reads: each input's column by the spec's name, and the target. */
export function dataSource(data: Dataset, spec: ModelSpec): DataSource {
  const byName = new Map(data.inputs.map((c) => [c.name, c]));
  const inputs: DataSource['inputs'] = {};
  for (const x of spec.inputs) {
    const c = byName.get(x.name) ?? data.inputs[0];
    inputs[x.name] = c.hashed ? new HashedIds(c.data as FileColumn, hashBuckets(spec, x.name)) : c.data;
  }
  return { inputs, target: data.target.data };
}

/** The rows of the embedding table reading a hashed input (every table reading it must agree). */
export function hashBuckets(spec: ModelSpec, input: string): number {
  const rows = [...new Set(spec.layers.flatMap((l) => (l.kind === 'embedding' && l.input === input ? [l.rows] : [])))];
  if (rows.length !== 1) throw new SpecError(`spec.inputs ${input}: hashed category ids need exactly one table size to hash into; ${rows.length ? `the embeddings reading it have rows ${rows.join(', ')}` : 'no embedding reads it'}`);
  return rows[0];
}

/**
 * Standardisation statistics of the training split: a model of u8 inputs only gets one mean and
 * std over every value (MNIST's, rounded to 6 decimals as btnn 0.1 did, so `npm start` keeps its
 * bits); f32 inputs get one per feature. A constant feature gets std 1 (it is only centred).
 */
export function inputNorm(spec: ModelSpec, data: Dataset): InputNorm | undefined {
  const byName = new Map(data.inputs.map((c) => [c.name, c]));
  const cols = spec.inputs.filter((x) => x.dtype !== 'i32').map((x) => ({ x, c: byName.get(x.name) ?? data.inputs[0] }));
  if (cols.length === 0) return undefined;
  if (cols.every(({ x }) => x.dtype === 'u8')) {
    let sum = 0, sumSq = 0, n = 0;
    for (const { x, c } of cols) {
      // A histogram of the 256 byte values, then the sums over it: one increment per byte (MNIST's
      // 47 M bytes took 11 % of a 10-epoch run as a float loop), exact counts in f64.
      const counts = new Float64Array(256);
      forEachChunk(c.data as Uint8Array | FileBytes, (chunk) => { for (let i = 0; i < chunk.length; i++) counts[chunk[i]]++; });
      const range = x.range ?? 255;
      for (let b = 0; b < 256; b++) { const v = Math.fround(b / range); sum += counts[b] * v; sumSq += counts[b] * v * v; }
      n += c.data.length;
    }
    const mean = sum / n, std = Math.sqrt(Math.max(sumSq / n - mean * mean, 0));
    if (!(std > 0)) throw new DataError(`${data.name}: every input value is ${mean}; a constant input cannot be standardised (or learned from)`);
    return { mean: Number(mean.toFixed(6)), std: Number(std.toFixed(6)) };
  }
  const norm: Record<string, { mean: number[]; std: number[] }> = {};
  for (const { x, c } of cols) {
    if (x.dtype !== 'f32') continue;
    const w = c.width, rows = data.count;
    const mean = new Array<number>(w).fill(0), sq = new Array<number>(w).fill(0);
    const add = (v: ArrayLike<number>, n: number): void => { for (let r = 0; r < n; r++) for (let j = 0; j < w; j++) { const a = v[r * w + j]; mean[j] += a; sq[j] += a * a; } };
    if (c.data instanceof FileColumn) c.data.scan((v) => add(v, v.length / w));
    else add(c.data as Float32Array, rows);
    const std = mean.map((s, j) => {
      const m = s / rows, s2 = Math.sqrt(Math.max(sq[j] / rows - m * m, 0));
      return s2 >= 1e-9 * Math.max(1, Math.abs(m)) ? s2 : 1;
    });
    norm[x.name] = { mean: mean.map((s) => s / rows), std };
  }
  return norm;
}

/** The training split's class frequencies' largest share (what always predicting it scores). */
export function majorityShare(data: Dataset): number {
  if (data.target.kind !== 'classes') return 0;
  const counts = new Array<number>(data.target.classes).fill(0);
  for (const c of data.target.data) counts[c]++;
  return Math.max(...counts) / data.count;
}
