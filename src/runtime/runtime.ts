// The runtime: prepares a spec for a batch and lanes (src/prepare), has hw-sim's greedy planner
// place the declared buffers, grows the WASM memory to exactly that plan, links every program
// once, and runs steps. It owns the phase order, as TFLM's Invoke does:
//   trainStep  hooks.beforeStep (ARD: EM update, sampling) → load the batch into the lanes → prep →
//              pack (int16: shared Ws packed once) →
//              lanes (forward, loss, backward) → reduce → finish → finishSum → hooks.afterBackward
//              (ARD: prior gradients) → Adam, unless the loss or the hook's value is not finite
//   inferStep  load → prep (unless told W is current) → lanes' forward and loss
// Each phase's jobs run on the thread pool; bits do not depend on the thread count.
import type { Core } from '../core/wasm.js';
import type { ModelSpec } from '../spec/types.js';
import type { LayerPlan, PathKind } from '../tn/plan.js';
import { link, type Op } from '../tn/compile.js';
import { programNs } from '../tn/cost.js';
import { governedTensors } from '../bayes/groups.js';
import { planMemory, findBuffer, type MemoryPlan } from '../../hw-sim/plan/planner.js';
import { planGreedy } from '../../hw-sim/plan/greedy-planner.js';
import { prepare, timedRequests, gradsBuffer, laneRows, STEP_SEED_OFFSET, INT16_COUNTS, type Prepared, type ProgramDecl, type RunMode, type TensorSlot, type Precision } from '../prepare/prepare.js';
import { ThreadPool, type Job } from './pool.js';
import { inputTableValues } from './input-tables.js';
import { prepareIndices } from '../tn/embedding.js';
import { SparseRows } from './sparse-rows.js';

export type { RunMode, TensorSlot } from '../prepare/prepare.js';
export { laneRows, laneBatch, tensorSlots } from '../prepare/prepare.js';

/** The plan cannot be allocated (a user-sized problem: batch or model too large). */
export class PlanError extends Error {
  constructor(message: string) { super(message); this.name = 'PlanError'; }
}
const F32 = 4;
const WASM_PAGE_BYTES = 65536;
/** Phases: prep → pack (int16) → lanes → gradPack (int16) → reduce and finish (independent memory: one phase) → finishSum. */
const PHASE = { prep: 0, pack: 1, lanes: 2, gradPack: 3, gradients: 4, finishSum: 5 } as const;
/** The step's phases in the order a step runs them (names of PHASE). */
export const PHASE_NAMES = ['prep', 'pack', 'lanes', 'gradPack', 'gradients', 'finishSum'] as const;

/** Told the time of every op a step runs (Runtime.profileOps): its phase, the op, ms. */
export type OpProfiler = (phase: (typeof PHASE_NAMES)[number], op: Op, ms: number) => void;

export interface RuntimeOptions {
  /** Training-set size, for the shuffle order buffer (train only). */
  datasetCount?: number;
  /** Batch lanes (row ranges with their own buffers); the same lane count gives the same bits on any thread count. */
  lanes?: number;
  /** Contraction workspace each tensor layer may use, bytes (all lanes; one number, or one per layer). */
  workspaceBudgetBytes?: number | number[];
  /** Force one kind of contraction path for every layer (default: the planner's choice). */
  path?: PathKind;
  /** Step-size multipliers by tensor, overriding init.ts's lrScale (pruning keeps the starting ones). */
  lrScales?: Record<string, number>;
  /** Memory planner: greedy over lifetimes (default) or linear, every buffer its own bytes (tests compare them). */
  planner?: 'greedy' | 'linear';
  /** Arithmetic of a training step's contraction GEMMs (prepare.ts PrepareOptions.precision). */
  precision?: Precision;
  /**
   * Seed of the int16 backward GEMMs' stochastic rounding (the run's --seed). A step's seed is
   * (roundingSeed, Adam steps so far), so a resumed or re-planned run repeats the same draws.
   */
  roundingSeed?: number;
}

/** count × width values in memory, or anything that hands out rows as views (a column read from its file). */
export type RowSource = ArrayLike<number> | { subarray(start: number, end: number): ArrayLike<number> };

/** Rows of a data source the host copies into the lanes: `rows` samples, sample r being row(r). */
export interface DataSource {
  /** Per model input, count × width values (f32 inputs as floats, i32 inputs as integers). */
  inputs: Record<string, RowSource>;
  /** count × target width: class ids (softmax) or values (bce, mse); absent: zeros. */
  target?: RowSource;
}

export interface Batch {
  source: DataSource;
  rows: number;
  /** Sample index of batch row r (default: r). */
  row?: (r: number) => number;
  /** Loss-gradient scale (default 1 / rows: the mean over the minibatch). */
  gradScale?: number;
}

export interface StepResult {
  lossSum: number; correct: number; kl: number; applied: boolean;
  /** --precision int16: the step's GEMM operand values quantised, the nonzero ones rounded to 0, heads with NaN or ±∞. */
  int16?: Int16StepCounts;
}
export interface Int16StepCounts { values: number; flushed: number; nonFinite: number }

/** What the ARD driver (src/bayes/ard.ts) adds around a training step. */
export interface StepHooks {
  /** Before the batch is loaded: EM update of the rank variances, SVI sampling. */
  beforeStep?: () => void;
  /** After the gradients are complete: adds the prior's gradients, returns the KL (or penalty). */
  afterBackward?: () => number;
  /** When the step is finite, just before Adam moves the parameters (the NaN guard keeps this state). */
  beforeUpdate?: () => void;
}

export class Runtime {
  readonly prepared: Prepared;
  readonly plan: MemoryPlan;
  /** The contraction plan of each linear layer (path, flops, workspace). */
  readonly layerPlans: LayerPlan[];
  readonly slots: TensorSlot[];
  readonly lanes: number;
  /** Rows each lane can hold. */
  readonly laneBatch: number;
  hooks: StepHooks = {};
  private readonly addr = new Map<string, number>();
  private readonly phases: Job[][];
  /** Per phase and job, the ops its words hold (what a profiler names). */
  private readonly phaseOps: Op[][][];
  private profiler: OpProfiler | null = null;
  private pool: ThreadPool | null = null;
  private step = 0;
  /** Dense embedding tables trained at their touched rows only (lazy Adam). */
  private readonly sparse: SparseRows;

  constructor(readonly core: Core, readonly spec: ModelSpec, readonly batch: number, readonly mode: RunMode, readonly options: RuntimeOptions = {}) {
    this.lanes = options.lanes ?? 1;
    this.prepared = prepare(spec, {
      batch, mode, lanes: this.lanes, datasetCount: options.datasetCount, budgetBytes: options.workspaceBudgetBytes, path: options.path, lrScales: options.lrScales, precision: options.precision,
    });
    this.laneBatch = this.prepared.laneRows;
    this.layerPlans = this.prepared.layerPlans;
    this.slots = this.prepared.slots;
    const requests = timedRequests(this.prepared);
    this.plan = options.planner === 'linear' ? planMemory(requests, core.exports.heapBase()) : planGreedy(requests, core.exports.heapBase());
    for (const b of this.plan.buffers) this.addr.set(b.name, b.offset);
    for (const v of this.prepared.views) this.addr.set(v.key, this.addr.get(v.buffer)! + v.offsetBytes);
    // Tensor keys: a slot inside the params layout of the buffer the programs read, per lane for gradients.
    for (const s of this.slots) {
      this.addr.set(this.prepared.paramKey(s.name), this.addr.get(this.prepared.paramBufferOf(s.name))! + s.offsetFloats * F32);
      if (mode === 'train') for (let l = 0; l < this.lanes; l++) this.addr.set(this.prepared.gradKey(s.name, l), this.addr.get(gradsBuffer(l))! + s.offsetFloats * F32);
    }
    this.allocate();
    this.fillInputTables();
    const resolve = (key: string): number => {
      const a = this.addr.get(key);
      if (a === undefined) throw new Error(`program refers to buffer ${key}, which the plan does not hold`);
      return a;
    };
    const place = (p: { key: string; ops: Parameters<typeof link>[0]; words: number }): Job => {
      const words = link(p.ops, resolve);
      if (words.length !== p.words) throw new Error(`program ${p.key}: ${words.length} words linked, ${p.words} planned`);
      const at = resolve(p.key);
      this.i32(at, words.length).set(words);
      return { addr: at, words: words.length, ns: programNs(p.ops) };
    };
    const pr = this.prepared.programs;
    // Per phase (PHASE order), its programs. Reduce jobs write the gradients lanes wrote, finish
    // jobs the ones only finish writes: disjoint, so one phase.
    const decls: (ProgramDecl & { evalWords?: number })[][] = [pr.prep, pr.pack, pr.lanes, pr.gradPack, [...pr.reduce, ...pr.finish], pr.finishSum];
    this.phases = decls.map((ps) => ps.map((p) => ({ ...place(p), ...(p.evalWords !== undefined ? { evalWords: p.evalWords } : {}) })));
    this.phaseOps = decls.map((ps) => ps.map((p) => p.ops));
    this.sparse = new SparseRows(core, this.lanes, this.prepared.laneIo.map((l) => l.embeddings), (t) => this.slot(t), (b) => this.bufferAddr(b));
  }

  /** Trained at its touched rows only (a dense embedding table; src/runtime/sparse-rows.ts). */
  rowSparse(tensor: string): boolean { return this.sparse.has(tensor); }

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
    // A fresh plan starts from zeros whatever ran in this instance before (biases, padding, Adam
    // state). Pages just grown are zero already (WebAssembly zero-fills them), and left untouched
    // they cost no RSS: a row-sparse table's untouched gradient rows never become resident.
    const used = Math.min(this.plan.baseBytes + this.plan.totalBytes, have * WASM_PAGE_BYTES);
    if (used > this.plan.baseBytes) new Uint8Array(mem.buffer, this.plan.baseBytes, used - this.plan.baseBytes).fill(0);
  }

  /** The inputs' standardisation tables (inputTableValues), written once. */
  private fillInputTables(): void {
    for (const t of this.prepared.inputTables) this.f32(this.addr.get(t.key)!, t.kind === 'lut' ? 256 : 2 * Math.ceil(t.width / 4) * 4).set(inputTableValues(this.spec, t));
  }

  /** Runs phases on up to `threads` threads from now on (node flavour; others stay on one). */
  async useThreads(threads: number): Promise<void> {
    await this.pool?.close();
    this.pool = threads > 1 ? await ThreadPool.create(this.core, this.phases, threads) : null;
  }

  /**
   * Takes over the threads of `from` (a runtime over the same core being replaced, as after a
   * pruning re-plan): the workers stay and run this runtime's programs; `from` is left on one thread.
   */
  adoptThreads(from: Runtime): void {
    if (from === this || !from.pool) return;
    if (this.pool) throw new Error('Runtime.adoptThreads: this runtime already has threads');
    from.pool.repoint(this.core, this.phases);
    this.pool = from.pool;
    from.pool = null;
  }

  get threads(): number { return this.pool?.threads ?? 1; }

  async close(): Promise<void> { await this.pool?.close(); this.pool = null; }

  /** Rows one step runs (all lanes, padding included): what per-step flops are divided by. */
  get batchCapacity(): number { return this.laneBatch * this.lanes; }

  /** Bytes of linear memory the instance really has. */
  get wasmMemoryBytes(): number { return this.core.memory.buffer.byteLength; }

  // Views are rebuilt on every use: memory.grow detaches old ones.
  f32(byteOffset: number, floats: number): Float32Array { return new Float32Array(this.core.memory.buffer, byteOffset, floats); }
  f64(byteOffset: number, n: number): Float64Array { return new Float64Array(this.core.memory.buffer, byteOffset, n); }
  i32(byteOffset: number, n: number): Int32Array { return new Int32Array(this.core.memory.buffer, byteOffset, n); }
  u8(byteOffset: number, n: number): Uint8Array { return new Uint8Array(this.core.memory.buffer, byteOffset, n); }
  bufferAddr(name: string): number { return findBuffer(this.plan, name).offset; }
  hasBuffer(name: string): boolean { return this.plan.buffers.some((b) => b.name === name); }

  private slot(tensor: string): TensorSlot {
    const s = this.slots.find((x) => x.name === tensor);
    if (!s) throw new Error(`model has no tensor ${tensor}`);
    return s;
  }

  /** A tensor's slot in a buffer of the params layout (params, grads, rho, weights, eps, grads.rho, adam.*). */
  slotView(buffer: string, tensor: string): Float32Array {
    const s = this.slot(tensor);
    return this.f32(this.bufferAddr(buffer) + s.offsetFloats * F32, s.floats);
  }

  tensor(name: string): Float32Array { return this.slotView('params', name); }
  /** The step's gradient (lane 0's buffer, where the lanes' gradients are summed). */
  gradient(name: string): Float32Array { return this.slotView('grads', name); }

  get paramFloats(): number { return findBuffer(this.plan, 'params').bytes / F32; }

  seed(seed: number, stream: number): void {
    this.core.exports.rngSeed(this.bufferAddr('rng'), BigInt(seed), BigInt(stream));
  }

  /** Copies a batch into the lanes' input, target and meta buffers; padding rows are zeros. */
  private load(batch: Batch): void {
    const io = this.prepared.laneIo;
    if (!Number.isInteger(batch.rows) || batch.rows < 0 || batch.rows > this.batchCapacity) {
      throw new RangeError(`batch of ${batch.rows} rows: this runtime holds 0..${this.batchCapacity}`);
    }
    const split = laneRows(batch.rows, this.lanes);
    const rowOf = batch.row ?? ((r: number) => r);
    if (this.hasBuffer(INT16_COUNTS)) { const b = findBuffer(this.plan, INT16_COUNTS); this.u8(b.offset, b.bytes).fill(0); }
    const stepSeed = (BigInt.asUintN(32, BigInt(this.options.roundingSeed ?? 0)) << 32n) | BigInt.asUintN(32, BigInt(this.step));
    const gradScale = batch.gradScale ?? (batch.rows > 0 ? 1 / batch.rows : 0);
    const buf = this.core.memory.buffer;
    // The last step's rows of row-sparse gradients back to zero (kept until now so it can be read).
    this.sparse.clear();
    let first = 0;
    split.forEach((n, l) => {
      const lane = io[l];
      for (const x of lane.inputs) {
        const src = batch.source.inputs[x.name];
        if (!src) throw new Error(`batch has no input ${x.name}`);
        const at = this.addr.get(x.key)!, cap = this.laneBatch * x.width;
        const dst = x.dtype === 'i32' ? new Int32Array(buf, at, cap) : x.dtype === 'u8' ? new Uint8Array(buf, at, cap) : new Float32Array(buf, at, cap);
        copyRows(dst, src, x.width, first, n, rowOf);
      }
      if (lane.target) {
        const t = lane.target;
        const dst = t.dtype === 'i32' ? new Int32Array(buf, this.addr.get(t.key)!, this.laneBatch * t.width) : new Float32Array(buf, this.addr.get(t.key)!, this.laneBatch * t.width);
        if (batch.source.target) copyRows(dst, batch.source.target, t.width, first, n, rowOf);
        else dst.fill(0);
        if (t.classes !== null) {
          // A class id out of range would make the loss op read another row's scores.
          for (let r = 0; r < n; r++) {
            const c = dst[r];
            if (!(c >= 0 && c < t.classes)) throw new Error(`batch row ${first + r}: class ${c} is not in 0..${t.classes - 1}; the data's labels do not fit the model's ${t.classes} outputs`);
          }
        }
      }
      for (const emb of lane.embeddings) {
        // The lookup's index arrays from the lane's ids (dedup in first-occurrence order).
        const ids = new Int32Array(buf, this.addr.get(emb.ids)!, n * emb.bag);
        let idx;
        try {
          idx = prepareIndices(emb.plan, ids);
        } catch (err) {
          throw new Error(`batch row ${first + Math.floor(ids.findIndex((v) => !(v >= 0 && v < emb.plan.vocab)) / emb.bag)}: ${(err as Error).message}`);
        }
        new Int32Array(buf, this.addr.get(emb.inverse)!, emb.plan.maxBatch).set(idx.inverse);
        emb.rows.forEach((k, j) => new Int32Array(buf, this.addr.get(k)!, emb.plan.maxBatch).set(idx.rows[j]));
        this.sparse.record(emb, l, idx);
      }
      const meta = this.addr.get(lane.meta)!;
      new Int32Array(buf, meta, 1)[0] = n;
      new Float32Array(buf, meta + 4, 1)[0] = gradScale;
      new DataView(buf).setBigUint64(meta + STEP_SEED_OFFSET, stepSeed, true);
      first += n;
    });
    this.sparse.unite();
  }

  private run(phase: number, evalOnly = false): void {
    if (this.phases[phase].length === 0) return; // f32 steps have no pack jobs: no thread round trip
    if (this.profiler) { this.runTimed(phase, evalOnly, this.profiler); return; }
    if (this.pool) { this.pool.run(phase, evalOnly); return; }
    const e = this.core.exports;
    for (const job of this.phases[phase]) e.tnRun(job.addr, evalOnly && job.evalWords !== undefined ? job.evalWords : job.words);
  }

  /**
   * From now on every step runs its ops one at a time on this thread and tells `profiler` the time
   * of each (null: back to normal). The same ops in the same order, so the same bits; slower by a
   * call and a clock read per op. Not with threads.
   */
  profileOps(profiler: OpProfiler | null): void {
    if (profiler && this.pool) throw new Error('Runtime.profileOps: profiles one thread; call useThreads(1) first');
    this.profiler = profiler;
  }

  private runTimed(phase: number, evalOnly: boolean, profiler: OpProfiler): void {
    const e = this.core.exports;
    this.phases[phase].forEach((job, j) => {
      const ops = this.phaseOps[phase][j];
      const end = job.addr + 4 * (evalOnly && job.evalWords !== undefined ? job.evalWords : job.words);
      let p = job.addr;
      for (let i = 0; p < end; i++) {
        const words = this.i32(p + 4, 1)[0]; // word 1 of every op: its length
        const t0 = performance.now();
        e.tnRun(p, words);
        profiler(PHASE_NAMES[phase], ops[i], performance.now() - t0);
        p += 4 * words;
      }
    });
  }

  /** Sums the int16 GEMMs' counters (prepare.ts INT16_COUNTS; load() clears them); undefined for f32. */
  private int16Counts(): Int16StepCounts | undefined {
    if (!this.hasBuffer(INT16_COUNTS)) return undefined;
    const b = findBuffer(this.plan, INT16_COUNTS);
    const u = new Uint32Array(this.core.memory.buffer, b.offset, b.bytes / 4);
    const c = { values: 0, flushed: 0, nonFinite: 0 };
    for (let i = 0; i < u.length; i += 4) { c.values += u[i]; c.flushed += u[i + 1]; c.nonFinite += u[i + 2]; }
    return c;
  }

  /** Loss sum and correct count over the lanes, in lane order (fixed bits whoever ran them). */
  private results(): { lossSum: number; correct: number } {
    let lossSum = 0, correct = 0;
    for (const lane of this.prepared.laneIo) {
      const meta = this.addr.get(lane.meta)!;
      lossSum += this.f64(meta + 8, 1)[0];
      correct += this.i32(meta + 16, 1)[0];
    }
    return { lossSum, correct };
  }

  /**
   * One training step over `batch`; with `lr`, also the Adam step (skipped, `applied: false`, when
   * the loss or the hook's KL is not finite, so the caller can restore a good state).
   */
  trainStep(batch: Batch, lr?: number): StepResult {
    if (this.mode !== 'train') throw new Error('trainStep needs a runtime prepared for training');
    this.hooks.beforeStep?.();
    this.load(batch);
    this.run(PHASE.prep);
    this.run(PHASE.pack);
    this.run(PHASE.lanes);
    this.run(PHASE.gradPack);
    this.run(PHASE.gradients);
    this.sparse.reduce();
    this.run(PHASE.finishSum);
    const kl = this.hooks.afterBackward?.() ?? 0;
    const r = this.results();
    const applied = lr !== undefined && Number.isFinite(r.lossSum) && Number.isFinite(kl);
    const int16 = this.int16Counts();
    if (applied) {
      this.hooks.beforeUpdate?.();
      this.adamStep(lr);
    }
    return { ...r, kl, applied, ...(int16 ? { int16 } : {}) };
  }

  /**
   * Forward and loss over `batch` (no gradients). `prep: false` reuses the W rebuilt by the previous
   * call (eval of fixed weights over many batches).
   */
  inferStep(batch: Batch, options: { prep?: boolean } = {}): { lossSum: number; correct: number } {
    this.load(batch);
    if (options.prep ?? true) { this.run(PHASE.prep); this.run(PHASE.pack); }
    this.run(PHASE.lanes, true);
    return this.results();
  }

  /** The model's outputs (the loss input: logits or predictions) of the last step's `rows` rows. */
  outputs(rows: number): Float32Array {
    const split = laneRows(rows, this.lanes);
    const width = this.prepared.laneIo[0].output.width;
    const out = new Float32Array(rows * width);
    let at = 0;
    split.forEach((n, l) => {
      out.set(this.f32(this.addr.get(this.prepared.laneIo[l].output.key)!, n * width), at);
      at += n * width;
    });
    return out;
  }

  /**
   * One Adam step over every tensor, each with lr·lrScale(tensor) (see init.ts); with SVI also
   * over the governed tensors' ρ (at plain lr: ρ is a log-scale parameter).
   */
  adamStep(lr: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8): void {
    this.step++;
    const e = this.core.exports;
    const [p, g, m, v] = ['params', 'grads', 'adam.m', 'adam.v'].map((n) => this.bufferAddr(n));
    for (const s of this.slots) {
      if (this.sparse.has(s.name)) continue;
      const off = s.offsetFloats * F32;
      e.adamF32(p + off, g + off, m + off, v + off, s.floats, lr * s.lrScale, beta1, beta2, eps, this.step);
    }
    this.sparse.adam(lr, beta1, beta2, eps, this.step);
    if (this.spec.inference === 'svi') {
      const [r, gr, rm, rv] = ['rho', 'grads.rho', 'adam.rho.m', 'adam.rho.v'].map((n) => this.bufferAddr(n));
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
}

/** dst rows [0, n) = src rows row(first + r); rows [n, cap) = 0. */
function copyRows(dst: Float32Array | Int32Array | Uint8Array, src: RowSource, width: number, first: number, n: number, row: (r: number) => number): void {
  // Typed arrays, and columns read from their file, hand out rows as views (see data/file-bytes.ts).
  const isTyped = typeof (src as { subarray?: unknown }).subarray === 'function';
  for (let r = 0; r < n; r++) {
    const s = row(first + r) * width;
    if (isTyped) dst.set((src as Float32Array).subarray(s, s + width), r * width);
    else for (let c = 0; c < width; c++) dst[r * width + c] = (src as ArrayLike<number>)[s + c];
  }
  dst.fill(0, n * width);
}
