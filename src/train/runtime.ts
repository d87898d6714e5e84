// The runtime: turns a spec + batch size into buffer requests, has hw-sim plan them, grows the
// WASM memory to exactly the plan, and runs forward / backward / Adam through the core.
//
// Every layer runs as core programs (assembly/tn.ts) that the contraction planner (src/tn/plan.ts)
// chose and lowered; the runtime links them to the plan's addresses once.
//
// Memory map, in this order:
//   rng | params (all layers' tensors, storage order) | grads, grads.1.. (one per lane, same
//   layout) | adam m | adam v | per layer: programs run once per step, shared workspaces (W and
//   its reconstruction) | per lane: per layer (programs, output, output gradient, workspaces),
//   batch inputs, labels, correct count | epoch order
//
// Every lane runs its programs over all laneBatch rows: a short final minibatch has its unused
// rows zeroed and their logit gradients zeroed, so they add exact zeros to every gradient.
import type { Core } from '../core/wasm.js';
import type { ModelSpec, LayerSpec } from '../model/spec.js';
import { layerTensors } from '../model/layers.js';
import { rankGroups, governedTensors } from '../bayes/groups.js';
import { planLayer, type LayerPlan, type PathKind } from '../tn/plan.js';
import { link, type Op } from '../tn/compile.js';
import { lrScale } from './init.js';
import { product } from '../util/math.js';
import { planMemory, findBuffer, type MemoryPlan } from '../../hw-sim/planner.js';
import { planGreedy, type TimedRequest } from '../../hw-sim/greedy-planner.js';

export type RunMode = 'train' | 'infer';

/** The plan cannot be allocated (a user-sized problem: batch or model too large). */
export class PlanError extends Error {
  constructor(message: string) { super(message); this.name = 'PlanError'; }
}
const F32 = 4;
const WASM_PAGE_BYTES = 65536;

/** Where each trainable tensor sits inside the params (and grads) buffer, in floats. */
export interface TensorSlot { name: string; shape: number[]; offsetFloats: number; floats: number; lrScale: number }

export function tensorSlots(spec: ModelSpec, lrScales?: Record<string, number>): TensorSlot[] {
  const slots: TensorSlot[] = [];
  let offset = 0;
  for (const layer of spec.layers) {
    for (const t of layerTensors(layer)) {
      const floats = product(t.shape);
      slots.push({ name: t.name, shape: t.shape, offsetFloats: offset, floats, lrScale: lrScales?.[t.name] ?? lrScale(layer, t.name) });
      offset += Math.ceil(floats / 4) * 4; // each tensor starts 16-byte aligned, as assembly/ttm.ts expects of cores
    }
  }
  return slots;
}

/** Contraction plans of every layer for a batch split into lanes (deterministic: workers re-derive them). */
export function planLayers(spec: ModelSpec, batch: number, mode: RunMode, lanes = 1, budgetBytes?: number | number[], path?: PathKind): LayerPlan[] {
  const laneRows = laneBatch(batch, lanes);
  return spec.layers.map((layer, i) => planLayer(layer, {
    laneRows, lanes, train: mode === 'train', needInputGrad: i > 0, budgetBytes: Array.isArray(budgetBytes) ? budgetBytes[i] : budgetBytes, path,
  }));
}

/** Words of a linked program (addresses do not change its length). */
const programBytes = (ops: Op[]): number => link(ops, () => 0).length * 4;

/**
 * Steps of one training step, for buffer lifetimes (inclusive, integer). Lanes run concurrently
 * and not in lockstep, so lane buffers carry a concurrency group and different lanes never share. Order: EM update and sampling
 * (0), batch load and prep (1), forward of layer i (2+i), loss (2+L), backward of layer i
 * (2+2L−i), finish of layer i (3+2L+i), optimizer (3+3L). Whole-run buffers span [0, end].
 */
export function stepSchedule(layers: number): { prep: number; fwd: (i: number) => number; loss: number; bwd: (i: number) => number; finish: (i: number) => number; end: number } {
  const L = layers;
  return { prep: 1, fwd: (i) => 2 + i, loss: 2 + L, bwd: (i) => 2 + 2 * L - i, finish: (i) => 3 + 2 * L + i, end: 3 + 3 * L };
}

/**
 * The buffers a run needs, with their lifetimes; the greedy planner (hw-sim) places them so
 * buffers never live at once share bytes. A minibatch is split into `lanes` row ranges (lane l
 * gets its own activations, workspace, batch and, after lane 0, gradient buffer) so lanes can
 * run on different threads over one memory; parameters and optimizer state are shared.
 * `datasetCount` sizes the shuffle order (train only).
 */
export function bufferRequests(spec: ModelSpec, batch: number, mode: RunMode, datasetCount = 0, lanes = 1,
  plans = planLayers(spec, batch, mode, lanes)): TimedRequest[] {
  const slots = tensorSlots(spec);
  const last = slots[slots.length - 1];
  const paramBytes = (last.offsetFloats + Math.ceil(last.floats / 4) * 4) * F32;
  const laneRows = laneBatch(batch, lanes);
  const train = mode === 'train';
  const L = spec.layers.length;
  const t = stepSchedule(L);
  const req: TimedRequest[] = [];
  const add = (name: string, bytes: number, kind: TimedRequest['kind'], firstUse = 0, lastUse = t.end): void => {
    // Lane buffers carry their lane as a concurrency group: lanes never share bytes with each other.
    const lane = /^lane(\d+)\./.exec(name);
    req.push({ name, bytes, kind, firstUse, lastUse, ...(lane ? { group: `lane${lane[1]}` } : {}) });
  };
  add('rng', 16, 'rng');
  add('params', paramBytes, 'params');
  if (train) {
    for (let l = 0; l < lanes; l++) add(l === 0 ? 'grads' : `grads.${l}`, paramBytes, 'grads');
    add('adam.m', paramBytes, 'optimizer');
    add('adam.v', paramBytes, 'optimizer');
  }
  if (spec.inference) {
    // Rank variances: the f32 precisions the kernels read, the f64 sums of the EM update.
    const slices = rankGroups(spec).reduce((n, g) => n + g.size, 0);
    add('ard.precision', slices * F32, 'variational');
    if (train) add('ard.stats', slices * 8, 'variational', 0, 0);
  }
  if (spec.inference === 'svi') {
    // σ = softplus(ρ) per entry, the sampled weights the programs read, the noise, ρ's gradient and Adam state.
    for (const name of ['rho', 'weights', 'eps']) add(name, paramBytes, 'variational');
    if (train) {
      add('grads.rho', paramBytes, 'grads');
      add('adam.rho.m', paramBytes, 'optimizer');
      add('adam.rho.v', paramBytes, 'optimizer');
    }
  }
  // In inference a layer's output dies once the next layer has read it; in training backward needs it.
  const outLast = (i: number): number => (train ? t.bwd(i) : i + 1 < L ? t.fwd(i + 1) : t.loss);
  plans.forEach(({ layer, chosen }, i) => {
    const n = layer.name;
    const doneAt = train ? t.finish(i) : t.fwd(L - 1);
    if (chosen.prep.length) add(`${n}.prog.prep`, programBytes(chosen.prep), 'meta');
    if (train && chosen.finish.length) add(`${n}.prog.finish`, programBytes(chosen.finish), 'meta');
    for (const b of chosen.sharedBuffers) {
      // W and the reconstruction's intermediates live from prep to finish; dRecon only in finish.
      const first = b.name === 'dRecon' ? t.finish(i) : t.prep;
      // In inference W stays for every batch that one prepare() serves (eval prepares once per pass).
      const lastUse = b.name === 'dRecon' ? t.finish(i) : b.name === 'W' ? (train ? doneAt : t.end) : train ? doneAt : t.prep;
      add(`${n}.${b.name}`, b.floats * F32, 'workspace', first, lastUse);
    }
  });
  for (let l = 0; l < lanes; l++) {
    plans.forEach(({ layer, chosen }, i) => {
      const n = `lane${l}.${layer.name}`;
      add(`${n}.prog.fwd`, programBytes(chosen.forward), 'meta');
      if (train) add(`${n}.prog.bwd`, programBytes(chosen.backward), 'meta');
      for (const b of chosen.laneBuffers) {
        const life: Record<string, [number, number]> = {
          saved: [t.fwd(i), train ? t.bwd(i) : t.fwd(i)],
          scratch: [t.fwd(i), train ? t.bwd(i) : t.fwd(i)],
          dsaved: [t.bwd(i), t.bwd(i)],
          dW: [t.bwd(i), t.finish(i)],
        };
        const [first, lastUse] = life[b.name] ?? [0, t.end];
        add(`${n}.${b.name}`, b.floats * F32, b.name === 'saved' ? 'activations' : 'workspace', first, lastUse);
      }
      add(`${n}.out`, laneRows * layer.outFeatures * F32, 'activations', t.fwd(i), outLast(i));
      if (train) add(`${n}.dout`, laneRows * layer.outFeatures * F32, 'workspace', i + 1 < L ? t.bwd(i + 1) : t.loss, t.bwd(i));
    });
    add(`lane${l}.batch.x`, laneRows * spec.inputFeatures * F32, 'batch', t.prep, train ? t.bwd(0) : t.fwd(0));
    add(`lane${l}.batch.labels`, laneRows, 'batch', t.prep, t.loss);
    add(`lane${l}.batch.correct`, 4, 'batch', t.prep, t.end);
  }
  if (train) add('order', datasetCount * 4, 'dataset');
  return req;
}

/** Rows a lane can hold: ceil(batch / lanes). */
export function laneBatch(batch: number, lanes: number): number { return Math.ceil(batch / lanes); }

/** Rows of each lane for a (possibly short, final) minibatch: full lanes of ceil(rows/lanes) first. */
export function laneRows(rows: number, lanes: number): number[] {
  const per = Math.ceil(rows / lanes);
  return Array.from({ length: lanes }, (_, l) => Math.max(0, Math.min(per, rows - l * per)));
}

/** A linked program: its address and length in words. */
interface Program { addr: number; words: number }

interface LayerAddrs {
  layer: LayerSpec; bias: number; dbias: number; out: number; dout: number;
  forward: Program; backward: Program | null;
}

interface SharedLayer { prep: Program | null; finish: Program | null; dW: number[]; dWFloats: number }

interface LaneAddrs { layers: LayerAddrs[]; x: number; labels: number; correct: number; grads: number }

export interface RuntimeOptions {
  /** Training-set size, for the shuffle order buffer (train only). */
  datasetCount?: number;
  /** Batch lanes (row ranges with their own buffers); the same lane count gives the same bits on any thread count. */
  lanes?: number;
  /** Join memory another Runtime already planned and initialised (a worker thread): no grow, no zeroing. */
  attach?: boolean;
  /** Contraction workspace each layer may use, bytes (all lanes; one number, or one per layer); the planner picks the cheapest path that fits. */
  workspaceBudgetBytes?: number | number[];
  /** Force one kind of contraction path for every layer (default: the planner's choice). */
  path?: PathKind;
  /**
   * Step-size multipliers by tensor, overriding init.ts's lrScale (which depends on the ranks):
   * pruning passes the ones training started with, so a cut does not change surviving steps.
   */
  lrScales?: Record<string, number>;
  /** Memory planner: greedy over lifetimes (default) or linear, every buffer its own bytes (tests compare them). */
  planner?: 'greedy' | 'linear';
}

export class Runtime {
  readonly plan: MemoryPlan;
  /** The contraction plan of each layer (path, flops, workspace). */
  readonly layerPlans: LayerPlan[];
  readonly slots: TensorSlot[];
  readonly lanes: number;
  /** Rows each lane can hold. */
  readonly laneBatch: number;
  private readonly laneAddrs: LaneAddrs[];
  private readonly shared: SharedLayer[];
  private readonly addr: (name: string) => number;
  private step = 0;

  constructor(readonly core: Core, readonly spec: ModelSpec, readonly batch: number, readonly mode: RunMode, readonly options: RuntimeOptions = {}) {
    this.lanes = options.lanes ?? 1;
    this.laneBatch = laneBatch(batch, this.lanes);
    this.layerPlans = planLayers(spec, batch, mode, this.lanes, options.workspaceBudgetBytes, options.path);
    const requests = bufferRequests(spec, batch, mode, options.datasetCount ?? 0, this.lanes, this.layerPlans);
    this.plan = options.planner === 'linear' ? planMemory(requests, core.exports.heapBase()) : planGreedy(requests, core.exports.heapBase());
    this.slots = tensorSlots(spec, options.lrScales);
    this.addr = (name) => findBuffer(this.plan, name).offset;
    if (!options.attach) this.allocate();
    const train = mode === 'train';
    const slotAddr = (base: string, tensor: string): number => {
      const s = this.slots.find((x) => x.name === tensor);
      if (!s) throw new Error(`no tensor ${tensor}`);
      return this.addr(base) + s.offsetFloats * F32;
    };
    // Links a program (written only by the thread that owns the memory; workers just find it).
    const program = (name: string, ops: Op[], resolve: (buf: string) => number): Program => {
      const words = link(ops, resolve);
      const addr = this.addr(name);
      if (!options.attach) this.i32(addr, words.length).set(words);
      return { addr, words: words.length };
    };
    const gradsOf = (l: number): string => (l === 0 ? 'grads' : `grads.${l}`);
    const resolver = (l: number, i: number) => (buf: string): number => {
      const layer = spec.layers[i], lane = `lane${l}`;
      // With SVI the programs read the sampled weights, never μ itself.
      if (buf.startsWith('param:')) return slotAddr(spec.inference === 'svi' ? 'weights' : 'params', buf.slice(6));
      if (buf.startsWith('grad:')) return slotAddr(gradsOf(l), buf.slice(5));
      switch (buf) {
        case 'x': return i > 0 ? this.addr(`${lane}.${spec.layers[i - 1].name}.out`) : this.addr(`${lane}.batch.x`);
        case 'dx': return this.addr(`${lane}.${spec.layers[i - 1].name}.dout`);
        case 'y': return this.addr(`${lane}.${layer.name}.out`);
        case 'dy': return this.addr(`${lane}.${layer.name}.dout`);
        default: {
          const own = `${lane}.${layer.name}.${buf}`;
          return this.plan.buffers.some((b) => b.name === own) ? this.addr(own) : this.addr(`${layer.name}.${buf}`);
        }
      }
    };
    this.shared = this.layerPlans.map(({ layer, chosen }, i) => {
      const dW = chosen.laneBuffers.some((b) => b.name === 'dW') && train
        ? Array.from({ length: this.lanes }, (_, l) => this.addr(`lane${l}.${layer.name}.dW`)) : [];
      return {
        prep: chosen.prep.length ? program(`${layer.name}.prog.prep`, chosen.prep, resolver(0, i)) : null,
        finish: train && chosen.finish.length ? program(`${layer.name}.prog.finish`, chosen.finish, resolver(0, i)) : null,
        dW, dWFloats: chosen.laneBuffers.find((b) => b.name === 'dW')?.floats ?? 0,
      };
    });
    this.laneAddrs = Array.from({ length: this.lanes }, (_, l) => {
      const layers = this.layerPlans.map(({ layer, chosen }, i) => {
        const n = `lane${l}.${layer.name}`;
        const bias = `${layer.name}.bias`;
        return {
          layer,
          bias: slotAddr('params', bias), dbias: train ? slotAddr(gradsOf(l), bias) : 0,
          out: this.addr(`${n}.out`),
          dout: train ? this.addr(`${n}.dout`) : 0,
          forward: program(`${n}.prog.fwd`, chosen.forward, resolver(l, i)),
          backward: train ? program(`${n}.prog.bwd`, chosen.backward, resolver(l, i)) : null,
        };
      });
      return {
        layers, x: this.addr(`lane${l}.batch.x`), labels: this.addr(`lane${l}.batch.labels`),
        correct: this.addr(`lane${l}.batch.correct`), grads: train ? this.addr(gradsOf(l)) : 0,
      };
    });
  }

  /** Grows the linear memory to exactly the plan (whole pages) and zeroes the plan's bytes. */
  private allocate(): void {
    const mem = this.core.memory;
    const pages = Math.ceil(this.plan.endBytes / WASM_PAGE_BYTES);
    const have = mem.buffer.byteLength / WASM_PAGE_BYTES;
    if (pages > 65536) {
      throw new PlanError(`--batch ${this.batch}: the memory plan needs ${this.plan.endBytes} bytes, beyond WebAssembly's 4 GiB; lower --batch`);
    }
    try {
      if (pages > have) mem.grow(pages - have);
    } catch {
      throw new PlanError(`--batch ${this.batch}: could not grow WebAssembly memory to the plan's ${this.plan.endBytes} bytes (out of memory); lower --batch`);
    }
    // A fresh plan starts from zeros whatever ran in this instance before (biases, padding, Adam state).
    new Uint8Array(mem.buffer, this.plan.baseBytes, this.plan.totalBytes).fill(0);
  }

  /** Rows one step runs (all lanes, padding included): what per-step flops are divided by. */
  get batchCapacity(): number { return this.laneBatch * this.lanes; }

  /** Bytes of linear memory the instance really has. */
  get wasmMemoryBytes(): number { return this.core.memory.buffer.byteLength; }

  // Views are rebuilt on every use: memory.grow detaches old ones.
  f32(byteOffset: number, floats: number): Float32Array { return new Float32Array(this.core.memory.buffer, byteOffset, floats); }
  i32(byteOffset: number, n: number): Int32Array { return new Int32Array(this.core.memory.buffer, byteOffset, n); }
  u8(byteOffset: number, n: number): Uint8Array { return new Uint8Array(this.core.memory.buffer, byteOffset, n); }
  bufferAddr(name: string): number { return this.addr(name); }

  tensor(name: string): Float32Array {
    const s = this.slots.find((x) => x.name === name);
    if (!s) throw new Error(`model has no tensor ${name}`);
    return this.f32(this.addr('params') + s.offsetFloats * F32, s.floats);
  }

  gradient(name: string): Float32Array {
    const s = this.slots.find((x) => x.name === name);
    if (!s) throw new Error(`model has no tensor ${name}`);
    return this.f32(this.addr('grads') + s.offsetFloats * F32, s.floats);
  }

  get paramFloats(): number { return findBuffer(this.plan, 'params').bytes / F32; }

  seed(seed: number, stream: number): void {
    this.core.exports.rngSeed(this.addr('rng'), BigInt(seed), BigInt(stream));
  }

  /** Copies `rows` ≤ laneBatch samples into a lane's batch buffers. */
  loadBatch(inputs: Float32Array, labels: Uint8Array | null, rows: number, lane = 0): void {
    const L = this.laneAddrs[lane];
    const f = this.spec.inputFeatures;
    const x = this.f32(L.x, this.laneBatch * f);
    x.set(inputs.subarray(0, rows * f));
    x.fill(0, rows * f); // unused rows: zeros, so they stay finite through every layer
    if (labels) this.u8(L.labels, rows).set(labels.subarray(0, rows));
  }

  /** Once per step, before any lane: whatever does not depend on the batch (reconstructed W). */
  prepare(): void {
    for (const s of this.shared) if (s.prep) this.core.exports.tnRun(s.prep.addr, s.prep.words);
  }

  /**
   * Forward pass of a lane (all laneBatch rows; rows past `rows` are padding); returns the
   * logits' address.
   */
  forward(rows: number, lane = 0): number {
    void rows;
    const e = this.core.exports;
    let x = this.laneAddrs[lane].x;
    for (const L of this.laneAddrs[lane].layers) {
      const { layer } = L;
      e.tnRun(L.forward.addr, L.forward.words);
      e.biasAddF32(L.out, L.bias, this.laneBatch, layer.outFeatures);
      if (layer.activation === 'relu') e.reluF32(L.out, this.laneBatch * layer.outFeatures);
      x = L.out;
    }
    return x;
  }

  /**
   * Loss summed over the lane's rows and its correct count; when training, writes
   * dlogits = (softmax − onehot) / batchRows, batchRows being the whole minibatch's rows, and
   * zero for the padding rows.
   */
  loss(rows: number, batchRows = rows, lane = 0): { lossSum: number; correct: number } {
    const e = this.core.exports;
    const L = this.laneAddrs[lane];
    const last = L.layers[L.layers.length - 1];
    const train = this.mode === 'train';
    const dlogits = train ? last.dout : last.out;
    const lossSum = e.softmaxXentF32(dlogits, last.out, L.labels, rows, this.spec.classes, L.correct, 1 / batchRows);
    if (train) this.f32(last.dout, this.laneBatch * this.spec.classes).fill(0, rows * this.spec.classes);
    return { lossSum, correct: this.i32(L.correct, 1)[0] };
  }

  /** Gradients of the lane's rows into the lane's gradient buffer (lane 0: `grads`). */
  backward(rows: number, lane = 0): void {
    void rows;
    if (this.mode !== 'train') throw new Error('backward needs a runtime planned for training');
    const e = this.core.exports;
    const lanes = this.laneAddrs[lane];
    for (let i = lanes.layers.length - 1; i >= 0; i--) {
      const L = lanes.layers[i];
      const { layer } = L;
      if (layer.activation === 'relu') e.reluBackwardF32(L.dout, L.out, this.laneBatch * layer.outFeatures);
      e.biasGradF32(L.dbias, L.dout, this.laneBatch, layer.outFeatures);
      e.tnRun(L.backward!.addr, L.backward!.words);
    }
  }

  /**
   * Once per step, after the lanes: sums the lanes' dW (lane order) and runs each reconstructed
   * layer's backward through its reconstruction, writing the factor gradients into `grads`.
   */
  finish(lanesRun: number): void {
    const e = this.core.exports;
    for (const s of this.shared) {
      if (!s.finish) continue;
      for (let l = 1; l < lanesRun; l++) e.addF32(s.dW[0], s.dW[l], s.dWFloats);
      e.tnRun(s.finish.addr, s.finish.words);
    }
  }

  /** grads += grads of lane l, for lanes 1.. that ran (in lane order, so the sum's bits are fixed). */
  reduceGradients(lanesRun: number): void {
    for (let l = 1; l < lanesRun; l++) this.core.exports.addF32(this.laneAddrs[0].grads, this.laneAddrs[l].grads, this.paramFloats);
  }

  /**
   * One Adam step over every tensor, each with lr·lrScale(tensor) (see init.ts); with SVI also
   * over the governed tensors' ρ (at plain lr: ρ is a log-scale parameter).
   */
  adamStep(lr: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8): void {
    this.step++;
    const e = this.core.exports;
    const [p, g, m, v] = ['params', 'grads', 'adam.m', 'adam.v'].map((n) => this.addr(n));
    for (const s of this.slots) {
      const off = s.offsetFloats * F32;
      e.adamF32(p + off, g + off, m + off, v + off, s.floats, lr * s.lrScale, beta1, beta2, eps, this.step);
    }
    if (this.spec.inference === 'svi') {
      const [r, gr, rm, rv] = ['rho', 'grads.rho', 'adam.rho.m', 'adam.rho.v'].map((n) => this.addr(n));
      const governed = governedTensors(this.spec);
      for (const s of this.slots) {
        if (!governed.has(s.name)) continue;
        const off = s.offsetFloats * F32;
        e.adamF32(r + off, gr + off, rm + off, rv + off, s.floats, lr, beta1, beta2, eps, this.step);
      }
    }
  }

  /** Adam's step count (carried over when pruning rebuilds the runtime). */
  get adamSteps(): number { return this.step; }
  set adamSteps(n: number) { this.step = n; }

  /** A tensor's slot in another buffer of the params layout (rho, weights, eps, grads.rho, adam.*). */
  slotView(buffer: string, tensor: string): Float32Array {
    const s = this.slots.find((x) => x.name === tensor);
    if (!s) throw new Error(`model has no tensor ${tensor}`);
    return this.f32(this.addr(buffer) + s.offsetFloats * F32, s.floats);
  }

  hasBuffer(name: string): boolean { return this.plan.buffers.some((b) => b.name === name); }
}
