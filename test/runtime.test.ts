// The runtime allocates exactly the memory plan; results are bit-identical across thread counts
// and core flavours; a short training run on a fixed MNIST subset learns.
import t from 'tap';
import { loadCore, type Flavour } from '../src/core/wasm.js';
import { Runtime, laneRows } from '../src/runtime/runtime.js';
import { prepare } from '../src/prepare/prepare.js';
import { FORMATS } from '../src/spec/formats.js';
import { defaultSpec } from '../src/spec/defaults.js';
import { train } from '../src/train/train.js';
import { loadModel } from '../src/model/file.js';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WASM_PAGE = 65536;

t.test('the WASM memory is the plan, to within one page, and buffers never overlap', async (t) => {
  for (const format of FORMATS) {
    for (const [batch, lanes, mode, path] of [[128, 2, 'train', undefined], [7, 1, 'train', 'direct'], [256, 2, 'infer', 'reconstruct']] as const) {
      const core = await loadCore('node');
      const rt = new Runtime(core, defaultSpec(format), batch, mode, { lanes, datasetCount: 1000, path });
      const slack = rt.wasmMemoryBytes - rt.plan.endBytes;
      t.ok(slack >= 0 && slack < WASM_PAGE, `${format} ${path ?? 'auto'} B=${batch} lanes=${lanes} ${mode}: memory ${rt.wasmMemoryBytes} − plan ${rt.plan.endBytes} = ${slack} in [0, 65536)`);
      const bufs = rt.plan.buffers as (typeof rt.plan.buffers[number] & { firstUse: number; lastUse: number })[];
      const clash = bufs.some((a, i) => bufs.some((b, j) => j > i && a.bytes > 0 && b.bytes > 0 && a.firstUse <= b.lastUse && b.firstUse <= a.lastUse &&
        a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes));
      t.notOk(clash, 'no two buffers live at the same step overlap');
      t.ok(Math.min(...bufs.map((b) => b.offset)) >= core.exports.heapBase(), 'the plan starts after the core\'s static data');
      t.ok(rt.plan.totalBytes <= Object.values(rt.plan.bytesByKind).reduce((s, b) => s + b, 0), 'buffers share bytes: the total is at most the sum by kind');
    }
  }
  // Training needs more than inference: gradients, optimizer state, workspaces.
  const spec = defaultSpec('ttm', 20);
  const bytes = (mode: 'train' | 'infer'): number => prepare(spec, { batch: 128, mode, lanes: 2 }).buffers.reduce((s, r) => s + r.bytes, 0);
  t.ok(bytes('train') > bytes('infer'), `training plan ${bytes('train')} B > inference plan ${bytes('infer')} B`);
});

t.test('every format trains bit-identically on 1 and 2 threads (reconstruct and direct paths)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-fmt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const format of ['cp', 'tucker', 'tt', 'tr'] as const) {
    const run = async (threads: number): Promise<Buffer> => {
      const out = join(dir, `${format}-${threads}`);
      // batch 30 over 200 images: a short last batch (20 rows) exercises the padding rows.
      await train({ format, epochs: 1, batch: 30, lr: 1e-3, maxRank: 4, seed: 3, limitTrain: 200, limitTest: 50, outDir: out, threads, log: null });
      return readFileSync(join(out, 'model.safetensors'));
    };
    t.ok((await run(2)).equals(await run(1)), `${format}: 2 threads = 1 thread, bit for bit`);
  }
});

t.test('the greedy plan shares bytes, yet training gives the bits of the linear plan', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-plan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const core = await loadCore('node');
  for (const format of FORMATS) {
    for (const mode of ['train', 'infer'] as const) {
      const greedy = new Runtime(core, defaultSpec(format), 64, mode, { lanes: 2, datasetCount: 100 });
      const linear = new Runtime(core, defaultSpec(format), 64, mode, { lanes: 2, datasetCount: 100, planner: 'linear' });
      t.ok(greedy.plan.totalBytes <= linear.plan.totalBytes, `${format} ${mode}: greedy ${greedy.plan.totalBytes} ≤ linear ${linear.plan.totalBytes} bytes`);
      // No two buffers that are live at the same step overlap.
      const bufs = greedy.plan.buffers as (typeof greedy.plan.buffers[number] & { firstUse: number; lastUse: number })[];
      let clashes = 0;
      for (let i = 0; i < bufs.length; i++) for (let j = i + 1; j < bufs.length; j++) {
        const a = bufs[i], b = bufs[j];
        const live = a.firstUse <= b.lastUse && b.firstUse <= a.lastUse;
        const overlap = a.bytes > 0 && b.bytes > 0 && a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
        if (live && overlap) clashes++;
      }
      t.equal(clashes, 0, `${format} ${mode}: no live buffers overlap`);
    }
  }
  const infer = new Runtime(core, defaultSpec('dense'), 256, 'infer', { lanes: 1 });
  const inferLinear = new Runtime(core, defaultSpec('dense'), 256, 'infer', { lanes: 1, planner: 'linear' });
  t.ok(infer.plan.totalBytes < inferLinear.plan.totalBytes, `inference reuses activations: ${infer.plan.totalBytes} < ${inferLinear.plan.totalBytes}`);
  for (const [format, bayes] of [['ttm', undefined], ['cp', 'svi'], ['tucker', 'map']] as const) {
    const files = await Promise.all((['greedy', 'linear'] as const).map(async (planner) => {
      const out = join(dir, `${format}-${planner}`);
      await train({
        format, epochs: 1, batch: 32, lr: 1e-3, maxRank: 4, seed: 5, limitTrain: 200, limitTest: 50, outDir: out, threads: 1, log: null, planner,
        bayes: bayes ? { inference: bayes, prior: { kind: 'log-uniform' }, kl: 1e-3, klWarmup: { start: 0, length: 0.5 }, rankThreshold: { rel: 1e-2, abs: 1e-12 }, pruneEvery: 3, emStep: 1, sigmaInit: 0.01 } : undefined,
      });
      // The tensors, not the file: ARD files record planBytes in their history, which differ.
      const m = loadModel(join(out, 'model.safetensors'));
      return Buffer.concat([...m.tensors.values()].map((x) => Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength)));
    }));
    t.ok(files[0].equals(files[1]), `${format}${bayes ? ` ${bayes}` : ''}: the greedy plan's tensors equal the linear plan's, bit for bit`);
  }
});

t.test('lanes split a batch evenly, first lanes taking the extra row', async (t) => {
  t.same(laneRows(128, 2), [64, 64]);
  t.same(laneRows(7, 2), [4, 3]);
  t.same(laneRows(1, 2), [1, 0]);
  t.same(laneRows(10, 4), [3, 3, 3, 1]);
  t.same(laneRows(5, 1), [5]);
});

async function tinyRun(flavour: Flavour, threads: number, dir: string): Promise<Buffer> {
  const out = join(dir, `${flavour}-${threads}`);
  await train({ format: 'ttm', epochs: 1, batch: 32, lr: 1e-3, maxRank: 4, seed: 7, limitTrain: 200, limitTest: 50, outDir: out, flavour, threads, log: null });
  return readFileSync(join(out, 'model.safetensors'));
}

t.test('training gives the same bits for 1, 2 or 4 threads and for every flavour', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-bits-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const reference = await tinyRun('node', 1, dir);
  t.ok((await tinyRun('node', 2, dir)).equals(reference), 'node, 2 threads = node, 1 thread');
  t.ok((await tinyRun('node', 4, dir)).equals(reference), 'node, 4 threads = node, 1 thread (TTM reconstructs W in 4 chunks)');
  t.ok((await tinyRun('edge-simd', 1, dir)).equals(reference), 'edge-simd = node');
  t.ok((await tinyRun('edge-scalar', 1, dir)).equals(reference), 'edge-scalar (no SIMD) = node');
});

t.test('a short run on a fixed MNIST subset learns (2000 train / 1000 test images, 2 epochs)', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-learn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const s = await train({ format: 'ttm', epochs: 2, batch: 64, lr: 1e-3, maxRank: 8, seed: 1, limitTrain: 2000, limitTest: 1000, outDir: dir, log: null });
  // The run is bit-reproducible (measured 0.826 with seed 1); the bound leaves room for kernel
  // changes that move rounding, not for a model that stopped learning (chance is 0.1).
  t.ok(s.testAccuracy >= 0.8, `test accuracy ${s.testAccuracy} ≥ 0.80`);
  t.ok(s.history[1].trainLoss < s.history[0].trainLoss, `train loss falls: ${s.history[0].trainLoss.toFixed(4)} → ${s.history[1].trainLoss.toFixed(4)}`);
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
  for (const key of ['dataset', 'format', 'epochs', 'seed', 'testAccuracy', 'params', 'denseParams', 'compression', 'ranks', 'trainSamplesPerSec', 'planBytes', 'wasmMemoryBytes']) {
    t.ok(key in summary, `summary.json has ${key}`);
  }
  t.ok(Math.abs(summary.wasmMemoryBytes - summary.planBytes) < WASM_PAGE, 'summary: planBytes and wasmMemoryBytes agree within a page');
  t.equal(summary.params, 1 * 7 * 4 * 8 + 8 * 4 * 4 * 8 + 8 * 7 * 8 * 8 + 8 * 4 * 4 * 1 + 512 + 16 * 2 * 8 + 8 * 32 * 5 + 10, 'params = closed form of the TTM cores + biases');
});

t.test('inference: one prepare() serves every batch (W outlives the forward passes)', async (t) => {
  const core = await loadCore('node');
  for (const format of ['cp', 'tucker', 'tt', 'ttm', 'tr'] as const) {
    const spec = defaultSpec(format, 4);
    const rt = new Runtime(core, spec, 8, 'infer', { path: 'reconstruct' });
    let s = 7;
    for (const slot of rt.slots) { const v = rt.tensor(slot.name); for (let i = 0; i < v.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; v[i] = (s / 2 ** 32 - 0.5) * 0.6; } }
    const batch = (k: number): Float32Array => Float32Array.from({ length: 8 * 784 }, (_, i) => Math.sin(i * 0.37 + k));
    rt.inferStep({ source: { inputs: { x: batch(1) } }, rows: 8 });
    rt.inferStep({ source: { inputs: { x: batch(2) } }, rows: 8 }, { prep: false });
    const second = rt.outputs(8);
    rt.inferStep({ source: { inputs: { x: batch(2) } }, rows: 8 });
    const fresh = rt.outputs(8);
    t.ok(Buffer.from(second.buffer).equals(Buffer.from(fresh.buffer)), `${format}: the second batch after one prepare equals a fresh prepare`);
  }
});
