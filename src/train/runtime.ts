// The runtime: turns a spec + batch size into buffer requests, has hw-sim plan them, grows the
// WASM memory to exactly the plan, and runs forward / backward / Adam through the core.
//
// Memory map, in this order:
//   rng | params (all layers' tensors, storage order) | grads, grads.1.. (one per lane, same
//   layout) | adam m | adam v | TTM descriptors |
//   per lane: per layer (saved states, output, output gradient, backward workspace), batch
//   inputs, labels, correct count | epoch order
import type { Core } from '../core/wasm.js';
import type { ModelSpec, LayerSpec } from '../model/spec.js';
import {
  layerTensors, ttmDescriptor, ttmStateFloats, ttmWorkspaceFloats,
} from '../model/layers.js';
import { lrScale } from './init.js';
import { product } from '../util/math.js';
import { planMemory, findBuffer, type BufferRequest, type MemoryPlan } from '../../hw-sim/planner.js';

export type RunMode = 'train' | 'infer';

/** The plan cannot be allocated (a user-sized problem: batch or model too large). */
export class PlanError extends Error {
  constructor(message: string) { super(message); this.name = 'PlanError'; }
}
const F32 = 4;
const WASM_PAGE_BYTES = 65536;

/** Where each trainable tensor sits inside the params (and grads) buffer, in floats. */
export interface TensorSlot { name: string; shape: number[]; offsetFloats: number; floats: number; lrScale: number }

export function tensorSlots(spec: ModelSpec): TensorSlot[] {
  const slots: TensorSlot[] = [];
  let offset = 0;
  for (const layer of spec.layers) {
    for (const t of layerTensors(layer)) {
      const floats = product(t.shape);
      slots.push({ name: t.name, shape: t.shape, offsetFloats: offset, floats, lrScale: lrScale(layer, t.name) });
      offset += Math.ceil(floats / 4) * 4; // each tensor starts 16-byte aligned, as assembly/ttm.ts expects of cores
    }
  }
  return slots;
}

/**
 * The buffers a run needs; the planner places them. A minibatch is split into `lanes` row ranges
 * (lane l gets its own activations, workspace, batch and, after lane 0, gradient buffer) so lanes
 * can run on different threads over one memory; parameters and optimizer state are shared.
 * `datasetCount` sizes the shuffle order (train only).
 */
export function bufferRequests(spec: ModelSpec, batch: number, mode: RunMode, datasetCount = 0, lanes = 1): BufferRequest[] {
  const slots = tensorSlots(spec);
  const last = slots[slots.length - 1];
  const paramBytes = (last.offsetFloats + Math.ceil(last.floats / 4) * 4) * F32;
  const laneRows = laneBatch(batch, lanes);
  const req: BufferRequest[] = [{ name: 'rng', bytes: 16, kind: 'rng' }, { name: 'params', bytes: paramBytes, kind: 'params' }];
  if (mode === 'train') {
    for (let l = 0; l < lanes; l++) req.push({ name: l === 0 ? 'grads' : `grads.${l}`, bytes: paramBytes, kind: 'grads' });
    req.push({ name: 'adam.m', bytes: paramBytes, kind: 'optimizer' });
    req.push({ name: 'adam.v', bytes: paramBytes, kind: 'optimizer' });
  }
  for (const layer of spec.layers) {
    if (layer.format === 'ttm') req.push({ name: `${layer.name}.desc`, bytes: ttmDescriptor(layer).length * 4, kind: 'meta' });
  }
  for (let l = 0; l < lanes; l++) {
    spec.layers.forEach((layer, i) => {
      const n = `lane${l}.${layer.name}`;
      if (layer.format === 'ttm') {
        const states = ttmStateFloats(layer, laneRows).reduce((s, f) => s + f, 0);
        req.push({ name: `${n}.states`, bytes: states * F32, kind: 'activations' });
      }
      req.push({ name: `${n}.out`, bytes: laneRows * layer.outFeatures * F32, kind: 'activations' });
      if (mode === 'train') {
        req.push({ name: `${n}.dout`, bytes: laneRows * layer.outFeatures * F32, kind: 'workspace' });
        const ws = layer.format === 'ttm' ? ttmWorkspaceFloats(layer, laneRows) : i > 0 ? layer.inFeatures * layer.outFeatures : 0;
        req.push({ name: `${n}.ws`, bytes: ws * F32, kind: 'workspace' });
      }
    });
    req.push({ name: `lane${l}.batch.x`, bytes: laneRows * spec.inputFeatures * F32, kind: 'batch' });
    req.push({ name: `lane${l}.batch.labels`, bytes: laneRows, kind: 'batch' });
    req.push({ name: `lane${l}.batch.correct`, bytes: 4, kind: 'batch' });
  }
  if (mode === 'train') req.push({ name: 'order', bytes: datasetCount * 4, kind: 'dataset' });
  return req;
}

/** Rows a lane can hold: ceil(batch / lanes). */
export function laneBatch(batch: number, lanes: number): number { return Math.ceil(batch / lanes); }

/** Rows of each lane for a (possibly short, final) minibatch: full lanes of ceil(rows/lanes) first. */
export function laneRows(rows: number, lanes: number): number[] {
  const per = Math.ceil(rows / lanes);
  return Array.from({ length: lanes }, (_, l) => Math.max(0, Math.min(per, rows - l * per)));
}

interface LayerAddrs {
  layer: LayerSpec; params: number; grads: number; bias: number; dbias: number;
  desc: number; states: number; out: number; dout: number; ws: number;
}

interface LaneAddrs { layers: LayerAddrs[]; x: number; labels: number; correct: number; grads: number }

export interface RuntimeOptions {
  /** Training-set size, for the shuffle order buffer (train only). */
  datasetCount?: number;
  /** Batch lanes (row ranges with their own buffers); the same lane count gives the same bits on any thread count. */
  lanes?: number;
  /** Join memory another Runtime already planned and initialised (a worker thread): no grow, no zeroing. */
  attach?: boolean;
}

export class Runtime {
  readonly plan: MemoryPlan;
  readonly slots: TensorSlot[];
  readonly lanes: number;
  /** Rows each lane can hold. */
  readonly laneBatch: number;
  private readonly laneAddrs: LaneAddrs[];
  private readonly addr: (name: string) => number;
  private step = 0;

  constructor(readonly core: Core, readonly spec: ModelSpec, readonly batch: number, readonly mode: RunMode, readonly options: RuntimeOptions = {}) {
    this.lanes = options.lanes ?? 1;
    this.laneBatch = laneBatch(batch, this.lanes);
    this.plan = planMemory(bufferRequests(spec, batch, mode, options.datasetCount ?? 0, this.lanes), core.exports.heapBase());
    this.slots = tensorSlots(spec);
    this.addr = (name) => findBuffer(this.plan, name).offset;
    if (!options.attach) this.allocate();
    const train = mode === 'train';
    const slotAddr = (base: string, tensor: string): number => {
      const s = this.slots.find((x) => x.name === tensor);
      if (!s) throw new Error(`no tensor ${tensor}`);
      return this.addr(base) + s.offsetFloats * F32;
    };
    this.laneAddrs = Array.from({ length: this.lanes }, (_, l) => {
      const grads = train ? (l === 0 ? 'grads' : `grads.${l}`) : '';
      const layers = spec.layers.map((layer) => {
        const first = layerTensors(layer)[0].name;
        const bias = `${layer.name}.bias`;
        const n = `lane${l}.${layer.name}`;
        return {
          layer,
          params: slotAddr('params', first), grads: train ? slotAddr(grads, first) : 0,
          bias: slotAddr('params', bias), dbias: train ? slotAddr(grads, bias) : 0,
          desc: layer.format === 'ttm' ? this.addr(`${layer.name}.desc`) : 0,
          states: layer.format === 'ttm' ? this.addr(`${n}.states`) : 0,
          out: this.addr(`${n}.out`),
          dout: train ? this.addr(`${n}.dout`) : 0,
          ws: train ? this.addr(`${n}.ws`) : 0,
        };
      });
      return {
        layers, x: this.addr(`lane${l}.batch.x`), labels: this.addr(`lane${l}.batch.labels`),
        correct: this.addr(`lane${l}.batch.correct`), grads: train ? this.addr(grads) : 0,
      };
    });
    if (!options.attach) {
      for (const layer of spec.layers) {
        if (layer.format === 'ttm') this.i32(this.addr(`${layer.name}.desc`), ttmDescriptor(layer).length).set(ttmDescriptor(layer));
      }
    }
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
    this.f32(L.x, rows * this.spec.inputFeatures).set(inputs.subarray(0, rows * this.spec.inputFeatures));
    if (labels) this.u8(L.labels, rows).set(labels.subarray(0, rows));
  }

  /** Forward pass of a lane over `rows` samples; returns the logits' address. */
  forward(rows: number, lane = 0): number {
    const e = this.core.exports;
    let x = this.laneAddrs[lane].x;
    for (const L of this.laneAddrs[lane].layers) {
      const { layer } = L;
      if (layer.format === 'ttm') {
        e.ttmForwardF32(L.out, x, L.params, L.desc, L.states, rows);
        e.biasAddF32(L.out, L.bias, rows, layer.outFeatures);
      } else {
        e.denseForwardF32(L.out, x, L.params, L.bias, rows, layer.inFeatures, layer.outFeatures);
      }
      if (layer.activation === 'relu') e.reluF32(L.out, rows * layer.outFeatures);
      x = L.out;
    }
    return x;
  }

  /**
   * Loss summed over the lane's rows and its correct count; when training, writes
   * dlogits = (softmax − onehot) / batchRows, batchRows being the whole minibatch's rows.
   */
  loss(rows: number, batchRows = rows, lane = 0): { lossSum: number; correct: number } {
    const e = this.core.exports;
    const L = this.laneAddrs[lane];
    const last = L.layers[L.layers.length - 1];
    const dlogits = this.mode === 'train' ? last.dout : last.out;
    const lossSum = e.softmaxXentF32(dlogits, last.out, L.labels, rows, this.spec.classes, L.correct, 1 / batchRows);
    return { lossSum, correct: this.i32(L.correct, 1)[0] };
  }

  /** Gradients of the lane's rows into the lane's gradient buffer (lane 0: `grads`). */
  backward(rows: number, lane = 0): void {
    if (this.mode !== 'train') throw new Error('backward needs a runtime planned for training');
    const e = this.core.exports;
    const lanes = this.laneAddrs[lane];
    for (let i = lanes.layers.length - 1; i >= 0; i--) {
      const L = lanes.layers[i];
      const { layer } = L;
      const input = i > 0 ? lanes.layers[i - 1].out : lanes.x;
      const dInput = i > 0 ? lanes.layers[i - 1].dout : 0;
      if (layer.activation === 'relu') e.reluBackwardF32(L.dout, L.out, rows * layer.outFeatures);
      if (layer.format === 'ttm') {
        e.biasGradF32(L.dbias, L.dout, rows, layer.outFeatures);
        e.ttmBackwardF32(dInput, L.grads, L.dout, L.params, L.desc, L.states, L.ws, rows);
      } else {
        e.denseBackwardF32(dInput, L.grads, L.dbias, L.dout, input, L.params, L.ws, rows, layer.inFeatures, layer.outFeatures);
      }
    }
  }

  /** grads += grads of lane l, for lanes 1.. that ran (in lane order, so the sum's bits are fixed). */
  reduceGradients(lanesRun: number): void {
    for (let l = 1; l < lanesRun; l++) this.core.exports.addF32(this.laneAddrs[0].grads, this.laneAddrs[l].grads, this.paramFloats);
  }

  /** One Adam step over every tensor, each with lr·lrScale(tensor) (see init.ts). */
  adamStep(lr: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8): void {
    this.step++;
    const e = this.core.exports;
    const [p, g, m, v] = ['params', 'grads', 'adam.m', 'adam.v'].map((n) => this.addr(n));
    for (const s of this.slots) {
      const off = s.offsetFloats * F32;
      e.adamF32(p + off, g + off, m + off, v + off, s.floats, lr * s.lrScale, beta1, beta2, eps, this.step);
    }
  }
}
