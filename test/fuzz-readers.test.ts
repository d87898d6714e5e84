// Readers that cannot be crashed: seeded mutations (deterministic LCG) of valid model files, IDX
// files, device profiles and ModelSpecs. Each reader may reject a mutation only with its own typed
// user error (SafetensorsError/ModelFileError, IdxError, DeviceError, SpecError); a TypeError,
// RangeError or stack overflow is a bug. Mutations: byte flips, truncation, JSON edits at a random
// node (deep nesting, huge and tiny numbers, wrong types, NaN-ish strings, unknown keys, __proto__).
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSpec, linearLayer } from '../src/spec/defaults.js';
import { validateSpec } from '../src/spec/validate.js';
import { SpecError, tensorLayers, type ModelSpec } from '../src/spec/types.js';
import { layerTensors } from '../src/model/layers.js';
import { loadModel, saveModel, ModelFileError } from '../src/model/file.js';
import { SafetensorsError } from '../src/io/safetensors.js';
import { IdxError, parseIdx } from '../src/data/idx.js';
import { DeviceError, devicesDir, listDevices, loadDevice, validateDevice } from '../hw-sim/devices.js';
import { validateRankHistory } from '../hw-sim/simulate.js';
import { showValue } from '../src/util/show.js';

type Rng = { next: () => number; int: (n: number) => number; pick: <T>(xs: readonly T[]) => T; chance: (p: number) => boolean };
function lcg(seed: number): Rng {
  let s = seed >>> 0;
  const next = (): number => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  const int = (n: number): number => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)], chance: (p) => next() < p };
}

/** Nested arrays (or objects) `depth` deep, built without recursion. */
function deep(depth: number, objects = false): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = objects ? { a: v } : [v];
  return v;
}
const deepText = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

// `text`: the value will go through the test's own JSON.stringify, so keep it shallow enough for
// that (the readers get 100 000-deep text from deepText instead).
function nasty(r: Rng, text: boolean): unknown {
  switch (r.int(24)) {
    case 0: return deep(r.pick(text ? [50, 1000] : [50, 5000, 20_000]));
    case 1: return deep(r.pick(text ? [50, 1000] : [50, 5000, 20_000]), true);
    case 2: return 1e308;
    case 3: return -1e308;
    case 4: return 5e-324;
    case 5: return 2 ** 53 + 2;
    case 6: return -1;
    case 7: return 0;
    case 8: return 0.5;
    case 9: return r.pick(['NaN', 'Infinity', '-Infinity', '1e999', '-0', '0x10', ' 7', '']);
    case 10: return NaN;
    case 11: return Infinity;
    case 12: return null;
    case 13: return r.chance(0.5);
    case 14: return [];
    case 15: return {};
    case 16: return 'x'.repeat(r.pick([1, 100, 100_000]));
    case 17: return Array.from({ length: r.pick([3, 10_000]) }, (_, i) => i);
    case 18: return JSON.parse('{"__proto__": {"polluted": 1}, "kind": "linear"}');
    case 19: return 2 ** 31;
    case 20: return 4294967296 * 4294967296;
    case 21: return [1, 'two', null, {}];
    case 22: return 'constructor';
    default: return undefined;
  }
}

/** Every container node and key in `root`, iteratively, so each can be mutated. */
function nodes(root: unknown): { parent: Record<string, unknown> | unknown[]; key: string | number }[] {
  const out: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0 && out.length < 5000) {
    const v = stack.pop();
    if (Array.isArray(v)) v.forEach((x, i) => { out.push({ parent: v, key: i }); stack.push(x); });
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) { out.push({ parent: v as Record<string, unknown>, key: k }); stack.push(x); }
  }
  return out;
}

/** A copy of a JSON value with 1–3 random edits (the root may be replaced too). */
function mutateJson(value: unknown, r: Rng, text = false): unknown {
  let root = JSON.parse(JSON.stringify(value));
  const edits = 1 + r.int(3);
  for (let e = 0; e < edits; e++) {
    const all = nodes(root);
    if (all.length === 0 || r.chance(0.03)) { root = nasty(r, text); continue; }
    const { parent, key } = r.pick(all);
    const p = parent as Record<string | number, unknown>;
    switch (r.int(6)) {
      case 0: case 1: case 2: p[key] = nasty(r, text); break;
      case 3: if (Array.isArray(parent)) parent.splice(key as number, 1); else delete p[key]; break;
      case 4: if (Array.isArray(parent)) parent.push(parent[key as number]); else p[`${String(key)}_extra`] = nasty(r, text); break;
      default: p[key] = [p[key]]; break; // wrap in an array: right content, wrong type
    }
  }
  return root;
}

/** Calls `fn` on many mutations; collects anything that is not one of the allowed errors. */
function fuzz(t: Pick<typeof import('tap').default, 'equal' | 'ok'>, label: string, count: number, allowed: (new (...a: never[]) => Error)[], fn: (i: number) => void): void {
  const bad: string[] = [];
  let rejected = 0;
  for (let i = 0; i < count; i++) {
    try {
      fn(i);
    } catch (err) {
      if (allowed.some((c) => err instanceof c)) { rejected++; continue; }
      const e = err as Error;
      if (bad.length < 5) bad.push(`#${i}: ${e?.name}: ${String(e?.message).slice(0, 200)}\n${String(e?.stack).split('\n').slice(1, 4).join('\n')}`);
      else bad.push('');
    }
  }
  t.equal(bad.length, 0, `${label}: ${count} mutations, ${rejected} rejected with typed errors, ${bad.length} crashed${bad.length ? '\n' + bad.filter((b) => b).join('\n') : ''}`);
  t.ok(rejected > count / 10, `${label}: the mutations do reach the checks (${rejected} rejected)`);
}

// Small valid specs covering every layer kind and format the validator knows.
function baseSpecs(): ModelSpec[] {
  const small: ModelSpec = {
    version: 2,
    inputs: [{ name: 'x', dtype: 'f32', shape: [16] }],
    layers: [linearLayer('fc1', 'tt', [4, 4], [2, 4], 3), { kind: 'activation', name: 'a1', fn: 'relu' }, linearLayer('fc2', 'dense', [8], [3], 1)],
    loss: { kind: 'softmax-xent' },
    inputNorm: { mean: 0.13, std: 0.31 },
  };
  const graph = {
    version: 2,
    inputs: [{ name: 'ids', dtype: 'i32', shape: [3] }, { name: 'x', dtype: 'f32', shape: [8] }],
    layers: [
      { kind: 'embedding', name: 'emb', input: 'ids', rows: 10, dim: 8, pool: 'sum', format: 'dense' },
      { kind: 'linear', name: 'lx', input: 'x', format: 'dense', inFeatures: 8, outFeatures: 8 },
      { kind: 'interaction', name: 'inter', inputs: ['emb', 'lx'] },
      { kind: 'concat', name: 'cat', inputs: ['inter', 'lx'] },
      { kind: 'linear', name: 'out', input: 'cat', format: 'dense', inFeatures: 9, outFeatures: 2 },
    ],
    loss: { kind: 'softmax-xent' },
  } as unknown as ModelSpec;
  const v1 = { version: 1, inputFeatures: 16, classes: 4, layers: [{ name: 'fc1', format: 'dense', inFeatures: 16, outFeatures: 4, activation: 'none' }] } as unknown as ModelSpec;
  return [small, graph, v1, ...(['cp', 'tucker', 'tt', 'ttm', 'tr', 'dense'] as const).map((f) => defaultSpec(f, 4))];
}

t.test('showValue: JSON.stringify for plain values, bounded and total for the rest', async (t) => {
  for (const v of [1, 'a"b', null, true, [1, [2, { a: 3 }]], { x: [1, 2], y: 'z' }, -0, [undefined, () => 1], { u: undefined, n: 1 }]) {
    t.equal(showValue(v, 1000), JSON.stringify(v), JSON.stringify(v));
  }
  t.equal(showValue(NaN), 'null');
  t.equal(showValue(undefined), 'undefined');
  const long = Array.from({ length: 100 }, (_, i) => i);
  t.equal(showValue(long), JSON.stringify(long).slice(0, 77) + '...', 'cut like the old formatter');
  t.equal(showValue(deep(1_000_000)), '['.repeat(12) + '[...]' + ']'.repeat(12), 'a million levels: depth capped at 12, no stack overflow');
  t.equal(showValue(deep(1_000_000, true)), '{"a":'.repeat(12) + '{...}' + '}'.repeat(12));
  t.equal(showValue([[1, 2], 'x'.repeat(200)]), JSON.stringify([[1, 2], 'x'.repeat(200)]).slice(0, 77) + '...');
  const cyc: Record<string, unknown> = { a: 1 };
  cyc.self = cyc;
  t.equal(showValue(cyc), '{"a":1,"self":"[Circular]"}');
  t.equal(showValue(10n), '10');
  const evil = { get x() { throw new Error('no'); } };
  t.equal(showValue(evil), '(unprintable value)');
  t.equal(showValue('y'.repeat(1_000_000)).length, 80);
});

t.test('ModelSpec validator: only SpecError on mutated specs', async (t) => {
  const bases = baseSpecs();
  for (const b of bases) t.doesNotThrow(() => validateSpec(JSON.parse(JSON.stringify(b))), 'base spec is valid');
  const r = lcg(0x5bec);
  fuzz(t, 'validateSpec', 4000, [SpecError], () => { validateSpec(mutateJson(r.pick(bases), r)); });
  // Deep nesting (20 000 levels overflow JSON.stringify; 100 000 here) at every top-level field, and as the whole spec.
  for (const field of ['version', 'inputs', 'layers', 'loss', 'inputNorm', 'inference']) {
    const s = { ...JSON.parse(JSON.stringify(bases[0])), [field]: deep(100_000) };
    t.throws(() => validateSpec(s), SpecError, `spec.${field} nested 100 000 deep`);
  }
  t.throws(() => validateSpec(deep(100_000, true)), SpecError);
});

t.test('inputNorm: a std whose inverse is not finite is refused, real statistics pass', async (t) => {
  const base = baseSpecs()[0];
  for (const std of [5e-324, 1e-300, 1e-13, 0, -1, 1e31]) {
    t.throws(() => validateSpec({ ...base, inputNorm: { mean: 0, std } }), /spec\.inputNorm = .*"std": number in \[1e-12, 1e30\].*1\/std/, `std ${std}`);
  }
  t.throws(() => validateSpec({ ...base, inputNorm: { mean: 1e300, std: 1 } }), SpecError, 'a mean float32 cannot hold');
  for (const [mean, std] of [[0.1307, 0.3081], [0, 1e-6], [127.5, 73.1], [-3e4, 1e-12], [1e9, 2e8]]) {
    t.doesNotThrow(() => validateSpec({ ...base, inputNorm: { mean, std } }), `mean ${mean}, std ${std}`);
  }
});

t.test('model file reader: only SafetensorsError / ModelFileError on mutated files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-fuzz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const spec = baseSpecs()[0];
  const tensors = new Map(tensorLayers(spec).flatMap((l) => layerTensors(l)).map((x, i) => [x.name, Float32Array.from({ length: x.shape.reduce((p, v) => p * v, 1) }, (_, j) => Math.sin(i * 100 + j))]));
  const good = join(dir, 'good.safetensors');
  const history = [{ step: 0, epoch: 0, ranks: { fc1: [3] }, params: 100, planBytes: 4096 }];
  saveModel(good, spec, (n) => tensors.get(n)!, { history: JSON.stringify(history) });
  t.ok(loadModel(good).spec, 'the base file loads');
  const bytes = new Uint8Array(readFileSync(good));
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  const data = bytes.subarray(8 + headerLen);
  const withHeader = (h: unknown, text = JSON.stringify(h)): Uint8Array => {
    const json = new TextEncoder().encode(text);
    const out = new Uint8Array(8 + json.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(data, 8 + json.length);
    return out;
  };
  const path = join(dir, 'fuzz.safetensors');
  const r = lcg(0xf11e);
  fuzz(t, 'loadModel', 2500, [SafetensorsError, ModelFileError], () => {
    let b: Uint8Array;
    switch (r.int(6)) {
      case 0: { // byte flips, mostly in the header
        b = bytes.slice();
        for (let k = 1 + r.int(4); k > 0; k--) b[r.chance(0.7) ? r.int(8 + headerLen) : r.int(b.length)] = r.int(256);
        break;
      }
      case 1: b = bytes.slice(0, r.int(bytes.length)); break; // truncation
      case 2: b = withHeader(mutateJson(header, r, true)); break; // header structure
      case 3: { // the spec inside the metadata
        const h = JSON.parse(JSON.stringify(header));
        h.__metadata__['btnn.spec'] = r.chance(0.1) ? deepText(r.pick([1000, 20_000])) : JSON.stringify(mutateJson(JSON.parse(h.__metadata__['btnn.spec']), r, true));
        b = withHeader(h);
        break;
      }
      case 4: { // a deeply nested value in a tensor entry, the metadata or the whole header
        const h = JSON.parse(JSON.stringify(header));
        const names = Object.keys(h).filter((k) => k !== '__metadata__');
        const where = r.int(4);
        if (where < 2) h[r.pick(names)][r.pick(['dtype', 'shape', 'data_offsets'])] = '@DEEP@';
        else if (where === 2) h[r.chance(0.5) ? '__metadata__' : r.pick(names)] = '@DEEP@';
        else h.__metadata__['btnn.version'] = '@DEEP@';
        const text = r.chance(0.1) ? deepText(20_000) : JSON.stringify(h).replace('"@DEEP@"', () => deepText(r.pick([100, 20_000])));
        b = withHeader(null, text);
        break;
      }
      default: b = withHeader(null, JSON.stringify(header).slice(0, r.int(headerLen))); // header JSON cut
    }
    writeFileSync(path, b);
    loadModel(path);
  });
});

t.test('model file: deep nesting gets the reader message, not a stack overflow or "not valid JSON"', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-deep-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const spec = baseSpecs()[0];
  const path = join(dir, 'm.safetensors');
  const tensors = new Map(tensorLayers(spec).flatMap((l) => layerTensors(l)).map((x) => [x.name, new Float32Array(x.shape.reduce((p, v) => p * v, 1))]));
  saveModel(path, spec, (n) => tensors.get(n)!);
  const bytes = new Uint8Array(readFileSync(path));
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  const rewrite = (text: string): void => {
    const json = new TextEncoder().encode(text);
    const out = new Uint8Array(8 + json.length + bytes.length - 8 - headerLen);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(bytes.subarray(8 + headerLen), 8 + json.length);
    writeFileSync(path, out);
  };
  const name = Object.keys(header).find((k) => k !== '__metadata__')!;
  rewrite(JSON.stringify({ ...header, [name]: { ...header[name], shape: '@' } }).replace('"@"', deepText(100_000)));
  t.throws(() => loadModel(path), { name: 'SafetensorsError', message: new RegExp(`tensor "${name}"\\.shape = \\[\\[\\[.*\\.\\.\\.\\]+: must be an array of non-negative integers`) });
  const deepSpec = JSON.stringify({ ...spec, inputs: '@' }).replace('"@"', deepText(100_000));
  rewrite(JSON.stringify({ ...header, __metadata__: { ...header.__metadata__, 'btnn.spec': deepSpec } }));
  t.throws(() => loadModel(path), { name: 'ModelFileError', message: /__metadata__ spec\.inputs\[0\] = \[\[\[.*\.\.\.\]+: must be an object/ });
  rewrite(JSON.stringify({ ...header, __metadata__: { ...header.__metadata__, 'btnn.spec': '{"version": 2' } }));
  t.throws(() => loadModel(path), { name: 'ModelFileError', message: /btnn\.spec is not valid JSON/ });
});

t.test('btnn.history: validated with a message naming the field', async (t) => {
  const good = [{ step: 0, epoch: 0, ranks: { fc1: [4, 4] }, params: 100, planBytes: 4096 }, { step: 10, epoch: 1, ranks: { fc1: [2, 3] }, params: 60, planBytes: 2048 }];
  t.same(validateRankHistory(JSON.parse(JSON.stringify(good)), 'm: h'), good);
  const cases: [unknown, RegExp][] = [
    [{ a: 1 }, /^m: h = \{"a":1\}: must be an array of \{step, epoch, ranks, params, planBytes\}/],
    [[1], /^m: h\[0\] = 1: must be an object/],
    [[{ ...good[0], step: '3' }], /^m: h\[0\]\.step = "3": must be an integer >= 0/],
    [[good[0], { ...good[1], ranks: [1, 2] }], /^m: h\[1\]\.ranks = \[1,2\]: must be an object/],
    [[{ ...good[0], ranks: { fc1: 'x' } }], /^m: h\[0\]\.ranks\["fc1"\] = "x": must be an array of integers >= 0/],
    [[{ ...good[0], planBytes: undefined }], /^m: h\[0\]\.planBytes = undefined: must be an integer >= 0/],
    [[{ ...good[0], extra: 1 }], /^m: h\[0\]\.extra = 1: unknown field/],
  ];
  for (const [v, re] of cases) t.throws(() => validateRankHistory(v, 'm: h'), re);
  const r = lcg(0x415);
  fuzz(t, 'validateRankHistory', 2000, [ModelFileError], () => { validateRankHistory(mutateJson(good, r), 'm: h'); });
});

t.test('IDX reader: only IdxError on mutated files', async (t) => {
  const idx = (dims: number[], n = dims.reduce((p, d) => p * d, 1)): Uint8Array => {
    const out = new Uint8Array(4 + 4 * dims.length + n);
    out[2] = 0x08; out[3] = dims.length;
    const v = new DataView(out.buffer);
    dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
    for (let i = 0; i < n; i++) out[4 + 4 * dims.length + i] = (i * 37) & 0xff;
    return out;
  };
  const bases = [idx([10]), idx([3, 4, 5]), idx([2, 2, 2, 2]), idx([5, 28, 28])];
  for (const b of bases) t.doesNotThrow(() => parseIdx(b, 'base.idx'));
  const r = lcg(0x1dc);
  fuzz(t, 'parseIdx', 4000, [IdxError], () => {
    const base = r.pick(bases);
    let b: Uint8Array;
    switch (r.int(4)) {
      case 0: b = base.slice(); for (let k = 1 + r.int(3); k > 0; k--) b[r.chance(0.8) ? r.int(Math.min(b.length, 24)) : r.int(b.length)] = r.int(256); break;
      case 1: b = base.slice(0, r.int(base.length + 1)); break;
      case 2: { b = new Uint8Array(base.length + 1 + r.int(8)); b.set(base); break; } // trailing bytes
      default: b = Uint8Array.from({ length: r.int(40) }, () => r.int(256));
    }
    // Sometimes an unaligned view into a larger buffer, as Node's file buffers can be.
    if (r.chance(0.3)) { const big = new Uint8Array(b.length + 3); big.set(b, 3); b = big.subarray(3); }
    parseIdx(b, 'fuzz.idx');
  });
});

t.test('device profile reader: only DeviceError on mutated profiles', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-fuzz-dev-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const texts = listDevices().map((id) => readFileSync(join(devicesDir(), `${id}.json`), 'utf8'));
  const profiles = texts.map((s) => JSON.parse(s));
  const r = lcg(0xde5);
  fuzz(t, 'validateDevice', 3000, [DeviceError], () => { validateDevice(mutateJson(r.pick(profiles), r), 'fuzz.json'); });
  const path = join(dir, 'board.json');
  fuzz(t, 'loadDevice file', 600, [DeviceError], () => {
    const base = r.pick(texts);
    let s: string;
    switch (r.int(4)) {
      case 0: { const c = [...base]; for (let k = 1 + r.int(3); k > 0; k--) c[r.int(c.length)] = String.fromCharCode(r.int(128)); s = c.join(''); break; }
      case 1: s = base.slice(0, r.int(base.length)); break;
      case 2: s = base.replace(/: (\d+|"[^"]*"|null)/, () => `: ${deepText(r.pick([100, 20_000]))}`); break;
      default: s = JSON.stringify(mutateJson(JSON.parse(base), r, true));
    }
    writeFileSync(path, s);
    loadDevice('', path);
  });
  t.throws(() => validateDevice({ ...profiles[0], memory: deep(100_000) }, 'deep.json'), DeviceError);
  writeFileSync(path, deepText(200_000));
  t.throws(() => loadDevice('', path), DeviceError, 'a file nested 200 000 deep');
});
