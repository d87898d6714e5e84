// validateSpec: every field of a ModelSpec checked, each failure naming the field, the value and
// the fix. Version 1 specs (a chain of linear layers with a ReLU flag, softmax over `classes`,
// what model files of btnn 0.1 store) are upgraded to version 2 first, so they keep loading.
import { FORMATS, validateModes, type LayerFormat } from './formats.js';
import { product } from '../util/math.js';
import { showValue } from '../util/show.js';
import { formatOf } from '../formats/index.js';
import { buildGraph, declaredInputs } from './graph.js';
import { ACT_FNS, DTYPES, LAYER_KINDS, LOSS_KINDS, SpecError, type LayerSpec, type ModelSpec } from './types.js';

type Fail = (field: string, value: unknown, fix: string) => never;
// The value is shown bounded (src/util/show.ts): a spec nested 10 000 deep gets this message, not a stack overflow.
const fail: Fail = (field, value, fix) => { throw new SpecError(`spec.${field} = ${showValue(value, 300)}: ${fix}`); };
const isPosInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;
const isName = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z_]\w*$/.test(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A version-1 spec as version 2: layer i's ReLU becomes an activation layer `<name>_relu`. */
export function upgradeV1(spec: Record<string, unknown>): ModelSpec {
  if (!isPosInt(spec.inputFeatures)) fail('inputFeatures', spec.inputFeatures, 'must be an integer >= 1');
  if (!isPosInt(spec.classes) || (spec.classes as number) > 256) fail('classes', spec.classes, 'must be an integer in 1..256');
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) fail('layers', spec.layers, 'must be a non-empty array');
  const layers: LayerSpec[] = [];
  (spec.layers as unknown[]).forEach((raw, i) => {
    if (!isObject(raw)) fail(`layers[${i}]`, raw, 'each layer must be an object');
    const { activation, ...rest } = raw;
    if (activation !== 'relu' && activation !== 'none') fail(`layers[${i}].activation`, activation, 'must be "relu" or "none"');
    layers.push({ kind: 'linear', ...(rest as object) } as LayerSpec);
    if (activation === 'relu') layers.push({ kind: 'activation', name: `${String(raw.name)}_relu`, fn: 'relu' });
  });
  const out: ModelSpec = {
    version: 2,
    inputs: [{ name: 'x', dtype: 'f32', shape: [spec.inputFeatures as number] }],
    layers,
    loss: { kind: 'softmax-xent' },
  };
  if (spec.inputNorm !== undefined) out.inputNorm = spec.inputNorm as ModelSpec['inputNorm'];
  if (spec.inference !== undefined) out.inference = spec.inference as ModelSpec['inference'];
  // v1 promised the last layer's width is the class count; v2 reads classes off the graph.
  const last = (spec.layers as Record<string, unknown>[])[(spec.layers as unknown[]).length - 1];
  if (last.outFeatures !== spec.classes) fail(`layers[${(spec.layers as unknown[]).length - 1}].outFeatures`, last.outFeatures, `must equal classes (${spec.classes})`);
  return out;
}

/** Throws a SpecError naming the field, the value and the fix; returns the spec (v1 upgraded) typed. */
export function validateSpec(raw: unknown): ModelSpec {
  if (!isObject(raw)) fail('', raw, 'a model spec must be a JSON object');
  const r = raw as Record<string, unknown>;
  if (r.version === 1) return validateSpec(upgradeV1(r));
  if (r.version !== 2) fail('version', r.version, 'must be 2 (or 1, the chain-of-linear-layers form of btnn 0.1)');
  const known = new Set(['version', 'inputs', 'layers', 'loss', 'inputNorm', 'inference']);
  for (const k of Object.keys(r)) if (!known.has(k)) fail(k, r[k], `unknown field; a spec has ${[...known].join(', ')}`);
  if (r.inference !== undefined && r.inference !== 'svi' && r.inference !== 'map') fail('inference', r.inference, 'must be "svi" or "map" (or absent)');

  if (!Array.isArray(r.inputs) || r.inputs.length === 0) fail('inputs', r.inputs, 'must be a non-empty array of {"name", "dtype": "f32"|"u8"|"i32", "shape": [n, ...]}');
  const names = new Map<string, string>(); // name -> where it was declared
  const dtypes = new Map<string, string>();
  const widths = new Map<string, number>();
  (r.inputs as unknown[]).forEach((x, i) => {
    const at = `inputs[${i}]`;
    if (!isObject(x)) fail(at, x, 'must be an object {"name", "dtype", "shape"}');
    if (!isName(x.name)) fail(`${at}.name`, x.name, 'must be an identifier (letters, digits, _)');
    if (names.has(x.name as string)) fail(`${at}.name`, x.name, `already names ${names.get(x.name as string)}; names must be unique`);
    if (!DTYPES.includes(x.dtype as never)) fail(`${at}.dtype`, x.dtype, `must be one of ${DTYPES.join(', ')}`);
    if (!Array.isArray(x.shape) || x.shape.length === 0 || !x.shape.every(isPosInt)) fail(`${at}.shape`, x.shape, 'must be a non-empty array of integers >= 1 (per row, without the batch)');
    if (x.dtype === 'i32' && (x.shape as number[]).length !== 1) fail(`${at}.shape`, x.shape, 'an i32 id input has shape [ids per row]');
    if (x.range !== undefined && (x.dtype !== 'u8' || !isPosInt(x.range) || (x.range as number) > 1e6)) fail(`${at}.range`, x.range, 'only a u8 input has a range: an integer 1..1e6 (a byte b stands for b / range)');
    for (const k of Object.keys(x)) if (!['name', 'dtype', 'shape', 'range'].includes(k)) fail(`${at}.${k}`, x[k], 'an input has name, dtype, shape and (u8) range');
    names.set(x.name as string, at);
    dtypes.set(x.name as string, x.dtype as string);
    widths.set(x.name as string, product(x.shape as number[]));
  });

  if (r.inputNorm !== undefined) checkInputNorm(r.inputNorm, r.inputs);
  if (!Array.isArray(r.layers) || r.layers.length === 0) fail('layers', r.layers, 'must be a non-empty array');
  const layers = r.layers as unknown[];
  layers.forEach((l, i) => {
    const at = `layers[${i}]`;
    if (!isObject(l)) fail(at, l, 'each layer must be an object with a "kind"');
    if (!LAYER_KINDS.includes(l.kind as never)) fail(`${at}.kind`, l.kind, `must be one of ${LAYER_KINDS.join(', ')}`);
    if (!isName(l.name)) fail(`${at}.name`, l.name, 'must be an identifier (letters, digits, _)');
    if (names.has(l.name as string)) fail(`${at}.name`, l.name, `already names ${names.get(l.name as string)}; names must be unique`);
    // Inputs: earlier layers or model inputs only (the graph has no cycles by construction).
    const many = l.kind === 'concat' || l.kind === 'interaction';
    if (many) {
      if (!Array.isArray(l.inputs) || l.inputs.length < (l.kind === 'interaction' ? 2 : 1)) {
        fail(`${at}.inputs`, l.inputs, `a ${String(l.kind)} layer needs "inputs": [names of ${l.kind === 'interaction' ? 'two or more' : 'one or more'} earlier layers or inputs]`);
      }
      if (new Set(l.inputs as unknown[]).size !== (l.inputs as unknown[]).length) fail(`${at}.inputs`, l.inputs, 'each value may appear once');
    } else if (l.inputs !== undefined) {
      fail(`${at}.inputs`, l.inputs, `a ${String(l.kind)} layer reads one value: use "input"`);
    }
    const ins = declaredInputs(l as unknown as LayerSpec) ?? [i === 0 ? (r.inputs as { name: string }[])[0].name : (layers[i - 1] as { name: string }).name];
    ins.forEach((n, j) => {
      const field = many ? `${at}.inputs[${j}]` : `${at}.input`;
      if (!names.has(n)) fail(field, n, `is neither a model input nor an earlier layer (${[...names.keys()].join(', ')})`);
    });
    const allowed: Record<string, string[]> = {
      linear: ['kind', 'name', 'input', 'format', 'inFeatures', 'outFeatures', 'inModes', 'outModes', 'ranks'],
      embedding: ['kind', 'name', 'input', 'rows', 'dim', 'pool', 'format', 'inFeatures', 'outFeatures', 'inModes', 'outModes', 'ranks'],
      activation: ['kind', 'name', 'input', 'fn'], concat: ['kind', 'name', 'inputs'], interaction: ['kind', 'name', 'inputs'],
    };
    for (const k of Object.keys(l)) {
      if (!allowed[l.kind as string].includes(k)) {
        fail(`${at}.${k}`, l[k], `a ${String(l.kind)} layer has no such field (it has ${allowed[l.kind as string].join(', ')})${k === 'activation' ? '; in version 2 an activation is a layer of its own: {"kind": "activation", "fn": ...}' : ''}`);
      }
    }
    const inWidths = ins.map((n) => widths.get(n)!);
    const isIds = (n: string): boolean => dtypes.get(n) === 'i32';
    let width = 0;
    switch (l.kind) {
      case 'linear': {
        if (isIds(ins[0])) fail(`${at}.input`, ins[0], 'is an i32 id input; ids feed an embedding layer');
        if (l.inFeatures !== inWidths[0]) fail(`${at}.inFeatures`, l.inFeatures, `must equal the width of its input ${ins[0]} (${inWidths[0]})`);
        if (!isPosInt(l.outFeatures)) fail(`${at}.outFeatures`, l.outFeatures, 'must be an integer >= 1');
        checkFormat(l, at);
        width = l.outFeatures as number;
        break;
      }
      case 'embedding': {
        if (!isIds(ins[0])) fail(`${at}.input`, ins[0], 'an embedding looks up ids: its input must be an i32 model input');
        if (!isPosInt(l.rows)) fail(`${at}.rows`, l.rows, 'must be the vocabulary size, an integer >= 1');
        if (!isPosInt(l.dim)) fail(`${at}.dim`, l.dim, 'must be the embedding width, an integer >= 1');
        // W's shape follows from the table: [Π inModes (or rows) × dim]; written out when absent.
        if (l.outFeatures === undefined) l.outFeatures = l.dim;
        if (l.inFeatures === undefined) l.inFeatures = Array.isArray(l.inModes) && l.inModes.every(isPosInt) ? product(l.inModes as number[]) : l.rows;
        if (l.outFeatures !== l.dim) fail(`${at}.outFeatures`, l.outFeatures, `must equal dim (${String(l.dim)})`);
        if (!isPosInt(l.inFeatures) || (l.inFeatures as number) < (l.rows as number)) fail(`${at}.inFeatures`, l.inFeatures, `must be Π inModes, at least rows (${String(l.rows)})`);
        if (l.pool !== undefined && l.pool !== 'sum' && l.pool !== 'mean') fail(`${at}.pool`, l.pool, 'must be "sum" or "mean" (or absent: one id per row)');
        const bag = inWidths[0];
        if (bag > 1 && l.pool === undefined) fail(`${at}.pool`, l.pool, `its input ${ins[0]} has ${bag} ids per row: pool them with "sum" or "mean"`);
        if (bag === 1 && l.pool !== undefined) fail(`${at}.pool`, l.pool, `its input ${ins[0]} has one id per row: there is nothing to pool; remove "pool"`);
        checkFormat(l, at);
        if (formatOf(l.format as LayerFormat).tensorized && product(l.inModes as number[]) < (l.rows as number)) fail(`${at}.inModes`, l.inModes, `their product must be at least rows (${String(l.rows)})`);
        width = l.dim as number;
        break;
      }
      case 'activation': {
        if (!ACT_FNS.includes(l.fn as never)) fail(`${at}.fn`, l.fn, `must be one of ${ACT_FNS.join(', ')}`);
        if (isIds(ins[0])) fail(`${at}.input`, ins[0], 'is an i32 id input; activations apply to f32 values');
        width = inWidths[0];
        break;
      }
      case 'concat': {
        ins.forEach((n, j) => { if (isIds(n)) fail(`${at}.inputs[${j}]`, n, 'is an i32 id input; concat joins f32 values'); });
        width = inWidths.reduce((s, w) => s + w, 0);
        break;
      }
      case 'interaction': {
        ins.forEach((n, j) => {
          if (isIds(n)) fail(`${at}.inputs[${j}]`, n, 'is an i32 id input; the interaction takes f32 vectors');
          if (inWidths[j] !== inWidths[0]) fail(`${at}.inputs[${j}]`, n, `has width ${inWidths[j]}; every input of an interaction needs the width of ${ins[0]} (${inWidths[0]})`);
        });
        const k = ins.length;
        width = (k * (k - 1)) / 2;
        break;
      }
    }
    names.set(l.name as string, at);
    dtypes.set(l.name as string, 'f32');
    widths.set(l.name as string, width);
  });

  if (!isObject(r.loss)) fail('loss', r.loss, `must be {"kind": ${LOSS_KINDS.map((k) => `"${k}"`).join(' | ')}, "input"?: layer}`);
  const loss = r.loss as Record<string, unknown>;
  for (const k of Object.keys(loss)) if (k !== 'kind' && k !== 'input') fail(`loss.${k}`, loss[k], 'a loss has only "kind" and "input" (its target comes with the data)');
  if (!LOSS_KINDS.includes(loss.kind as never)) fail('loss.kind', loss.kind, `must be one of ${LOSS_KINDS.join(', ')}`);
  const lastName = (layers[layers.length - 1] as { name: string }).name;
  const lossIn = (loss.input ?? lastName) as string;
  if (!names.has(lossIn) || dtypes.get(lossIn) !== 'f32' || (r.inputs as { name: string }[]).some((x) => x.name === lossIn)) {
    fail('loss.input', loss.input, 'must name a layer (default: the last layer)');
  }
  if (loss.kind === 'softmax-xent' && widths.get(lossIn)! < 2) fail('loss.input', lossIn, `softmax cross-entropy needs at least 2 classes; ${lossIn} has width ${widths.get(lossIn)}`);
  const spec = raw as unknown as ModelSpec;
  const graph = buildGraph(spec); // cannot fail after the checks above
  // A layer nobody reads would run for nothing (and get no gradient): almost always a wiring slip.
  spec.inputs.forEach((x, i) => {
    if (graph.values.get(x.name)!.consumers.length === 0) fail(`inputs[${i}].name`, x.name, 'no layer reads this input; feed it to a layer or remove it');
  });
  spec.layers.forEach((l, i) => {
    if (graph.values.get(l.name)!.consumers.length === 0) fail(`layers[${i}].name`, l.name, `nothing reads this layer's output; feed it to a later layer or to the loss ("loss": {"input": "${l.name}"}), or remove it`);
  });
  return spec;
}

// The smallest std accepted (below it 1/std overflows f32, or the feature is a constant) and the
// largest magnitude of a mean or std.
const MIN_STD = 1e-12;
const NORM_MAX = 1e30;

function checkInputNorm(n: unknown, inputs: unknown): void {
  if (!isObject(n)) fail('inputNorm', n, 'must be {"mean": number, "std": number} or {"<input>": {"mean": [...], "std": [...]}}');
  // Inputs are float32, scaled by 1/std: a std like 5e-324 passes "> 0" but makes 1/std infinite
  // (every input NaN, 10 % accuracy). The bounds keep (x − mean)/std finite and accept the
  // statistics of any real data set (btnn writes them rounded to 6 decimals: std ≥ 1e-6).
  const good = (m: unknown, s: unknown): boolean => Number.isFinite(m) && Math.abs(m as number) <= NORM_MAX && Number.isFinite(s) &&
    (s as number) >= MIN_STD && (s as number) <= NORM_MAX;
  if (typeof n.mean === 'number' || 'std' in n) {
    if (!good(n.mean, n.std)) fail('inputNorm', n, `must be {"mean": number with |mean| <= 1e30, "std": number in [1e-12, 1e30]}: inputs are scaled by 1/std in float32, so a smaller std makes them infinite`);
    return;
  }
  const byName = new Map(((inputs ?? []) as Record<string, unknown>[]).map((x) => [x?.name, x]));
  for (const [name, f] of Object.entries(n)) {
    const x = byName.get(name);
    if (!x || x.dtype !== 'f32') fail(`inputNorm.${name}`, name, 'per-feature statistics belong to an f32 input of the spec');
    const width = product(x!.shape as number[]);
    if (!isObject(f) || !Array.isArray(f.mean) || !Array.isArray(f.std) || f.mean.length !== width || f.std.length !== width) {
      fail(`inputNorm.${name}`, f, `must be {"mean": [${width} numbers], "std": [${width} numbers]}`);
    }
    (f as { mean: unknown[]; std: unknown[] }).mean.forEach((m, j) => { if (!good(m, (f as { std: unknown[] }).std[j])) fail(`inputNorm.${name}.std[${j}]`, (f as { std: unknown[] }).std[j], `mean and std must be finite with std >= ${MIN_STD}`); });
  }
}

function checkFormat(l: Record<string, unknown>, at: string): void {
  if (!FORMATS.includes(l.format as LayerFormat)) fail(`${at}.format`, l.format, `must be one of ${FORMATS.join(', ')}`);
  if (formatOf(l.format as LayerFormat).tensorized) validateModes(l, at, fail);
  else if (l.inModes !== undefined || l.outModes !== undefined || l.ranks !== undefined) {
    fail(`${at}.ranks`, l.ranks ?? l.inModes ?? l.outModes, 'a dense layer has no modes or ranks; remove them or choose a tensor format');
  }
}
