// The runtime: turns a spec + batch size into buffer requests, has hw-sim plan them, grows the
// WASM memory to exactly the plan, and runs forward / backward / Adam through the core.
//
// Memory map (one contiguous run per kind, in this order):
//   rng | params (all layers' tensors, storage order) | grads (same layout) | adam m | adam v |
//   per layer: descriptor, saved states, output, output gradient, backward workspace |
//   batch inputs | batch labels | epoch order
import type { Core } from '../core/wasm.js';
import type { ModelSpec, LayerSpec } from '../model/spec.js';
import {
  layerTensors, ttmDescriptor, ttmStateFloats, ttmWorkspaceFloats,
} from '../model/layers.js';
import { lrScale } from './init.js';
import { planMemory, findBuffer, type BufferRequest, type MemoryPlan } from '../../hw-sim/planner.js';

export type RunMode = 'train' | 'infer';
const F32 = 4;
const WASM_PAGE_BYTES = 65536;
const product = (xs: number[]): number => xs.reduce((p, x) => p * x, 1);

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

/** The buffers a run needs; the planner places them. `datasetCount` sizes the shuffle order (train only). */
export function bufferRequests(spec: ModelSpec, batch: number, mode: RunMode, datasetCount = 0): BufferRequest[] {
  const slots = tensorSlots(spec);
  const last = slots[slots.length - 1];
  const paramBytes = (last.offsetFloats + Math.ceil(last.floats / 4) * 4) * F32;
  const req: BufferRequest[] = [{ name: 'rng', bytes: 16, kind: 'rng' }, { name: 'params', bytes: paramBytes, kind: 'params' }];
  if (mode === 'train') {
    req.push({ name: 'grads', bytes: paramBytes, kind: 'grads' });
    req.push({ name: 'adam.m', bytes: paramBytes, kind: 'optimizer' });
    req.push({ name: 'adam.v', bytes: paramBytes, kind: 'optimizer' });
  }
  spec.layers.forEach((layer, i) => {
    const n = layer.name;
    if (layer.format === 'ttm') {
      req.push({ name: `${n}.desc`, bytes: ttmDescriptor(layer).length * 4, kind: 'meta' });
      const states = ttmStateFloats(layer, batch).reduce((s, f) => s + f, 0);
      req.push({ name: `${n}.states`, bytes: states * F32, kind: 'activations' });
    }
    req.push({ name: `${n}.out`, bytes: batch * layer.outFeatures * F32, kind: 'activations' });
    if (mode === 'train') {
      req.push({ name: `${n}.dout`, bytes: batch * layer.outFeatures * F32, kind: 'workspace' });
      const ws = layer.format === 'ttm' ? ttmWorkspaceFloats(layer, batch) : i > 0 ? layer.inFeatures * layer.outFeatures : 0;
      req.push({ name: `${n}.ws`, bytes: ws * F32, kind: 'workspace' });
    }
  });
  req.push({ name: 'batch.x', bytes: batch * spec.inputFeatures * F32, kind: 'batch' });
  req.push({ name: 'batch.labels', bytes: batch, kind: 'batch' });
  req.push({ name: 'batch.correct', bytes: 4, kind: 'batch' });
  if (mode === 'train') req.push({ name: 'order', bytes: datasetCount * 4, kind: 'dataset' });
  return req;
}

interface LayerAddrs {
  layer: LayerSpec; params: number; grads: number; bias: number; dbias: number;
  desc: number; states: number; out: number; dout: number; ws: number;
}

export class Runtime {
  readonly plan: MemoryPlan;
  readonly slots: TensorSlot[];
  private readonly layers: LayerAddrs[];
  private readonly addr: (name: string) => number;
  private step = 0;

  constructor(readonly core: Core, readonly spec: ModelSpec, readonly batch: number, readonly mode: RunMode, datasetCount = 0) {
    this.plan = planMemory(bufferRequests(spec, batch, mode, datasetCount), core.exports.heapBase());
    this.slots = tensorSlots(spec);
    const mem = core.memory;
    const pages = Math.ceil(this.plan.endBytes / WASM_PAGE_BYTES);
    const have = mem.buffer.byteLength / WASM_PAGE_BYTES;
    if (pages > 65536) {
      throw new Error(`memory plan needs ${this.plan.endBytes} bytes, beyond WebAssembly's 4 GiB: lower --batch (${batch})`);
    }
    if (pages > have) mem.grow(pages - have);
    // A fresh plan starts from zeros whatever ran in this instance before (biases, padding, Adam state).
    new Uint8Array(mem.buffer, this.plan.baseBytes, this.plan.totalBytes).fill(0);
    this.addr = (name) => findBuffer(this.plan, name).offset;
    const slotAddr = (base: string, tensor: string): number => {
      const s = this.slots.find((x) => x.name === tensor);
      if (!s) throw new Error(`no tensor ${tensor}`);
      return this.addr(base) + s.offsetFloats * F32;
    };
    this.layers = spec.layers.map((layer) => {
      const first = layerTensors(layer)[0].name;
      const bias = `${layer.name}.bias`;
      const train = mode === 'train';
      const a: LayerAddrs = {
        layer,
        params: slotAddr('params', first), grads: train ? slotAddr('grads', first) : 0,
        bias: slotAddr('params', bias), dbias: train ? slotAddr('grads', bias) : 0,
        desc: layer.format === 'ttm' ? this.addr(`${layer.name}.desc`) : 0,
        states: layer.format === 'ttm' ? this.addr(`${layer.name}.states`) : 0,
        out: this.addr(`${layer.name}.out`),
        dout: train ? this.addr(`${layer.name}.dout`) : 0,
        ws: train ? this.addr(`${layer.name}.ws`) : 0,
      };
      if (layer.format === 'ttm') this.i32(a.desc, ttmDescriptor(layer).length).set(ttmDescriptor(layer));
      return a;
    });
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

  /** Copies `rows` samples into the batch buffers. */
  loadBatch(inputs: Float32Array, labels: Uint8Array | null, rows: number): void {
    this.f32(this.addr('batch.x'), inputs.length).set(inputs);
    if (labels) this.u8(this.addr('batch.labels'), rows).set(labels.subarray(0, rows));
  }

  /** Forward pass over `rows` ≤ batch samples; returns the logits' address. */
  forward(rows: number): number {
    const e = this.core.exports;
    let x = this.addr('batch.x');
    for (const L of this.layers) {
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

  /** Loss (summed over rows) and correct count of the last forward; writes dlogits when training. */
  loss(rows: number): { lossSum: number; correct: number } {
    const e = this.core.exports;
    const last = this.layers[this.layers.length - 1];
    const dlogits = this.mode === 'train' ? last.dout : last.out;
    const lossSum = e.softmaxXentF32(dlogits, last.out, this.addr('batch.labels'), rows, this.spec.classes, this.addr('batch.correct'));
    return { lossSum, correct: this.i32(this.addr('batch.correct'), 1)[0] };
  }

  backward(rows: number): void {
    if (this.mode !== 'train') throw new Error('backward needs a runtime planned for training');
    const e = this.core.exports;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const L = this.layers[i];
      const { layer } = L;
      const input = i > 0 ? this.layers[i - 1].out : this.addr('batch.x');
      const dInput = i > 0 ? this.layers[i - 1].dout : 0;
      if (layer.activation === 'relu') e.reluBackwardF32(L.dout, L.out, rows * layer.outFeatures);
      if (layer.format === 'ttm') {
        e.biasGradF32(L.dbias, L.dout, rows, layer.outFeatures);
        e.ttmBackwardF32(dInput, L.grads, L.dout, L.params, L.desc, L.states, L.ws, rows);
      } else {
        e.denseBackwardF32(dInput, L.grads, L.dbias, L.dout, input, L.params, L.ws, rows, layer.inFeatures, layer.outFeatures);
      }
    }
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
