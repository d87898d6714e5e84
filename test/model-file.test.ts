// Specs and model files: validation names the field and value; a saved model reloads bit for bit;
// tampered files are rejected with a message naming what is wrong.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ttmRanks } from '../src/spec/formats.js';
import { defaultSpec } from '../src/spec/defaults.js';
import { validateSpec } from '../src/spec/validate.js';
import { SpecError, tensorLayers } from '../src/spec/types.js';
import { layerTensors, modelParams, denseParams } from '../src/model/layers.js';
import { saveModel, loadModel, ModelFileError } from '../src/model/file.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { planMemory } from '../hw-sim/plan/planner.js';

t.test('default specs: shapes, parameter counts, flops', async (t) => {
  const ttm = defaultSpec('ttm', 20), dense = defaultSpec('dense', 20);
  t.equal(denseParams(ttm), 407050, 'dense baseline 784·512+512 + 512·10+10');
  t.equal(modelParams(dense), 407050);
  // fc1 cores [1,7,4,20] [20,4,4,20] [20,7,8,16] [16,4,4,1]; fc2 [1,16,2,20] [20,32,5,1]
  t.equal(modelParams(ttm), 560 + 6400 + 17920 + 256 + 512 + 640 + 3200 + 10);
  t.same(layerTensors(tensorLayers(ttm)[0]).map((x) => x.shape), [[1, 7, 4, 20], [20, 4, 4, 20], [20, 7, 8, 16], [16, 4, 4, 1], [512]]);
  t.same(ttmRanks([7, 4, 7, 4], [4, 4, 8, 4], 3), [1, 3, 3, 3, 1]);
});

t.test('validateSpec names the field, the value and the fix', async (t) => {
  const good = defaultSpec('ttm', 20);
  // v2 layers: [0] fc1 (linear), [1] fc1_relu (activation), [2] fc2 (linear).
  const cases: [(s: any) => void, RegExp][] = [
    [(s) => { s.version = 3; }, /spec\.version = 3: must be 2/],
    [(s) => { s.layers[0].ranks = [1, 20, 0, 16, 1]; }, /layers\[0\]\.ranks = \[1,20,0,16,1\]/],
    [(s) => { s.layers[0].ranks = [2, 20, 20, 16, 1]; }, /boundary ranks/],
    [(s) => { s.layers[0].inModes = [7, 4, 7, 5]; }, /layers\[0\]\.inModes = \[7,4,7,5\]: their product must equal inFeatures \(784\)/],
    [(s) => { s.layers[2].inFeatures = 100; }, /layers\[2\]\.inFeatures = 100: must equal the width of its input fc1_relu \(512\)/],
    [(s) => { s.layers[2].name = 'fc1'; }, /unique/],
    [(s) => { s.layers[0].format = 'cpd'; }, /layers\[0\]\.format = "cpd": must be one of dense, cp, tucker, tt, ttm, tr/],
    [(s) => { s.layers[0].format = 'cp'; }, /layers\[0\]\.ranks = \[1,20,20,16,1\]: a cp layer needs \[R\]/],
    [(s) => { s.layers[0].format = 'tr'; s.layers[0].ranks = [3, 20, 20, 20, 20, 20, 20, 20, 1]; }, /r_0 must equal r_d/],
    [(s) => { s.inputNorm = { mean: 0, std: 0 }; }, /inputNorm/],
  ];
  for (const [mutate, message] of cases) {
    const s = JSON.parse(JSON.stringify(good));
    mutate(s);
    t.throws(() => validateSpec(s), message);
    try { validateSpec(s); } catch (e) { t.ok(e instanceof SpecError, 'throws a SpecError'); }
  }
  t.doesNotThrow(() => validateSpec(good));
});

t.test('model files round-trip and reject tampering', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-model-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const spec = { ...defaultSpec('ttm', 4), inputNorm: { mean: 0.13, std: 0.31 } };
  const tensors = new Map(tensorLayers(spec).flatMap((l) => layerTensors(l)).map((x, i) => {
    const n = x.shape.reduce((p, v) => p * v, 1);
    return [x.name, Float32Array.from({ length: n }, (_, j) => Math.sin(i * 1000 + j))];
  }));
  const path = join(dir, 'model.safetensors');
  saveModel(path, spec, (name) => tensors.get(name)!);
  const loaded = loadModel(path);
  t.same(loaded.spec, spec, 'spec round-trips');
  for (const [name, data] of tensors) t.same(Array.from(loaded.tensors.get(name)!.data), Array.from(data), `${name} round-trips bit for bit`);

  const bad = join(dir, 'bad.safetensors');
  const asTensors = (m: Map<string, Float32Array>) => [...m].map(([name, data]) => ({ name, shape: tensorLayers(spec).flatMap((l) => layerTensors(l)).find((x) => x.name === name)!.shape, data }));
  writeSafetensors(bad, asTensors(tensors), { 'btnn.spec': JSON.stringify(spec) });
  t.throws(() => loadModel(bad), /no "btnn.version"/);
  writeSafetensors(bad, asTensors(tensors), { 'btnn.version': '1', 'btnn.spec': '{"version":1' });
  t.throws(() => loadModel(bad), /btnn.spec is not valid JSON/);
  const missing = new Map(tensors); missing.delete('fc1.core2');
  writeSafetensors(bad, asTensors(missing), { 'btnn.version': '1', 'btnn.spec': JSON.stringify(spec) });
  t.throws(() => loadModel(bad), /tensor "fc1.core2" is missing; the spec needs shape \[4,7,8,4\]/);
  const nan = new Map(tensors); nan.set('fc2.bias', Float32Array.from([0, 0, NaN, 0, 0, 0, 0, 0, 0, 0]));
  writeSafetensors(bad, asTensors(nan), { 'btnn.version': '1', 'btnn.spec': JSON.stringify(spec) });
  t.throws(() => loadModel(bad), /"fc2.bias"\[2\] = NaN: model weights must be finite/);
  try { loadModel(bad); } catch (e) { t.ok(e instanceof ModelFileError); }
});

t.test('planner: exact offsets for hand-built buffers, 16-byte aligned, kinds totalled', async (t) => {
  const plan = planMemory([
    { name: 'a', bytes: 10, kind: 'params' },
    { name: 'b', bytes: 16, kind: 'grads' },
    { name: 'c', bytes: 0, kind: 'workspace' },
    { name: 'd', bytes: 1, kind: 'params' },
  ], 1000);
  t.same(plan.buffers.map((b) => b.offset), [1008, 1024, 1040, 1040]);
  t.equal(plan.baseBytes, 1008);
  t.equal(plan.endBytes, 1056);
  t.equal(plan.totalBytes, 48);
  t.same(plan.bytesByKind, { params: 32, grads: 16, workspace: 0 });
  t.throws(() => planMemory([{ name: 'x', bytes: 1, kind: 'params' }, { name: 'x', bytes: 1, kind: 'params' }], 0), /requested twice/);
  t.throws(() => planMemory([{ name: 'x', bytes: -1, kind: 'params' }], 0), /bytes = -1/);
});
