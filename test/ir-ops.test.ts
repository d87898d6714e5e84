// The layer ops of the core IR (bias, biasGrad, act, actGrad, copy2d, interact, interactGrad,
// loss): forwards against f64 references, gradients against central finite differences of the
// core's own forward, a composed DLRM-like chain, loss padding rows and the loss-only (dy null)
// form, the old direct kernels' bits kept, and identical bits on every flavour.
import t, { type Test } from 'tap';
import { loadCore, FLAVOURS, type Core } from '../src/core/wasm.js';
import { link, type Op, type Ref, type ActFn, type LossFn } from '../src/tn/compile.js';

const FWD_REL = 2e-6; // f32 op vs f64 reference, relative to max(1, |ref|)
const FD_H = 1e-3;
const FD_REL = 1e-2, FD_ABS = 1e-3; // analytic f32 gradient vs central difference of the f32 forward

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}
/** n f32-representable values in [-scale, scale); `away` keeps |v| ≥ away (off ReLU's kink). */
function randoms(n: number, seed: number, scale = 1, away = 0): Float64Array {
  const r = lcg(seed);
  return Float64Array.from({ length: n }, () => {
    const u = r() * 2 - 1;
    return Math.fround(away ? Math.sign(u || 1) * (away + Math.abs(u) * (scale - away)) : u * scale);
  });
}

const META_FLOATS = 8; // the loss op's 32-byte cell

/** Named buffers laid out from heapBase (16-aligned) in one core's memory; programs linked against them. */
class Machine {
  readonly at = new Map<string, { addr: number; floats: number }>();
  private next: number;
  constructor(readonly core: Core) { this.next = align16(core.exports.heapBase()); }
  alloc(name: string, floats: number): this {
    const addr = this.next;
    this.next += align16(Math.max(floats, 1) * 4);
    this.ensure(this.next);
    this.at.set(name, { addr, floats });
    return this;
  }
  private ensure(bytes: number): void {
    const have = this.core.memory.buffer.byteLength;
    if (bytes > have) this.core.memory.grow(Math.ceil((bytes - have) / 65536));
  }
  f32(name: string): Float32Array {
    const b = this.at.get(name)!;
    return new Float32Array(this.core.memory.buffer, b.addr, b.floats);
  }
  i32(name: string): Int32Array {
    const b = this.at.get(name)!;
    return new Int32Array(this.core.memory.buffer, b.addr, b.floats);
  }
  set(name: string, v: ArrayLike<number>): void { this.f32(name).set(v); }
  get(name: string): Float64Array { return Float64Array.from(this.f32(name)); }
  setMeta(name: string, rows: number, gradScale: number): void {
    const b = this.at.get(name)!;
    new Int32Array(this.core.memory.buffer, b.addr, 1)[0] = rows;
    new Float32Array(this.core.memory.buffer, b.addr + 4, 1)[0] = gradScale;
  }
  meta(name: string): { loss: number; correct: number } {
    const b = this.at.get(name)!;
    return {
      loss: new Float64Array(this.core.memory.buffer, b.addr + 8, 1)[0],
      correct: new Int32Array(this.core.memory.buffer, b.addr + 16, 1)[0],
    };
  }
  /** Every byte of every buffer (for bit comparisons across flavours). */
  bytes(): Uint8Array {
    const end = this.next, start = align16(this.core.exports.heapBase());
    return new Uint8Array(this.core.memory.buffer, start, end - start).slice();
  }
  run(ops: Op[]): void {
    const words = link(ops, (buf) => {
      const b = this.at.get(buf);
      if (!b) throw new Error(`no buffer ${buf}`);
      return b.addr;
    });
    // The program lives past the buffers, so it never overlaps them.
    const prog = align16(this.next);
    this.ensure(prog + words.length * 4);
    new Int32Array(this.core.memory.buffer, prog, words.length).set(words);
    this.core.exports.tnRun(prog, words.length);
  }
}
const align16 = (n: number): number => Math.ceil(n / 16) * 16;
const R = (buf: string, off = 0): Ref => ({ buf, off });

function close(t: Test, got: ArrayLike<number>, want: ArrayLike<number>, what: string, rel = FWD_REL): void {
  let worst = 0, at = -1;
  if (got.length !== want.length) { t.fail(`${what}: length ${got.length} vs ${want.length}`); return; }
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    if (!(e <= worst)) { worst = e; at = i; }
  }
  t.ok(worst <= rel, `${what}: worst rel error ${worst.toExponential(2)}${at >= 0 ? ` at ${at} (${got[at]} vs ${want[at]})` : ''} ≤ ${rel}`);
}

/**
 * Central differences of `loss` (which runs the core forward) over every element of buffer `name`,
 * compared with the analytic gradient `grad`.
 */
function fdCheck(t: Test, m: Machine, name: string, grad: ArrayLike<number>, loss: () => number, what: string): void {
  const x0 = m.get(name);
  let worst = 0, at = -1, fdAt = 0;
  for (let i = 0; i < x0.length; i++) {
    const x = Float64Array.from(x0);
    x[i] = x0[i] + FD_H; m.set(name, x); const up = loss();
    x[i] = x0[i] - FD_H; m.set(name, x); const down = loss();
    // The f32 inputs actually differ by fround(x+h) − fround(x−h), not exactly 2h.
    const fd = (up - down) / (Math.fround(x0[i] + FD_H) - Math.fround(x0[i] - FD_H));
    const e = Math.abs(grad[i] - fd) / (FD_REL * Math.abs(fd) + FD_ABS);
    if (!(e <= worst)) { worst = e; at = i; fdAt = fd; }
  }
  m.set(name, x0);
  t.ok(worst <= 1, `${what}: |analytic − FD| ≤ ${FD_REL}·|FD| + ${FD_ABS} over ${x0.length} elements` +
    (worst > 1 ? ` (fails at ${at}: ${grad[at]} vs ${fdAt})` : ''));
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };

// ---- f64 references ----
const ACT: Record<ActFn, { f: (x: number) => number; dfFromY: (y: number) => number }> = {
  relu: { f: (x) => (x > 0 ? x : 0), dfFromY: (y) => (y > 0 ? 1 : 0) },
  sigmoid: { f: (x) => 1 / (1 + Math.exp(-x)), dfFromY: (y) => y * (1 - y) },
  tanh: { f: (x) => Math.tanh(x), dfFromY: (y) => 1 - y * y },
};

function interactRef(tt: ArrayLike<number>, rows: number, k: number, d: number): Float64Array {
  const z: number[] = [];
  for (let r = 0; r < rows; r++) for (let i = 1; i < k; i++) for (let j = 0; j < i; j++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += tt[(r * k + i) * d + c] * tt[(r * k + j) * d + c];
    z.push(s);
  }
  return Float64Array.from(z);
}
function interactGradRef(dz: ArrayLike<number>, tt: ArrayLike<number>, rows: number, k: number, d: number): Float64Array {
  const dt = new Float64Array(rows * k * d);
  let p = 0;
  for (let r = 0; r < rows; r++) for (let i = 1; i < k; i++) for (let j = 0; j < i; j++, p++) {
    for (let c = 0; c < d; c++) {
      dt[(r * k + i) * d + c] += dz[p] * tt[(r * k + j) * d + c];
      dt[(r * k + j) * d + c] += dz[p] * tt[(r * k + i) * d + c];
    }
  }
  return dt;
}

/** Loss sum, correct count and dy (unscaled by padding: only `rows` rows) in f64. */
function lossRef(fn: LossFn, y: ArrayLike<number>, target: ArrayLike<number>, rows: number, cols: number, gradScale: number):
  { loss: number; correct: number; dy: Float64Array } {
  const dy = new Float64Array(rows * cols);
  let loss = 0, correct = 0;
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: cols }, (_, j) => y[r * cols + j]);
    if (fn === 'softmax-xent') {
      const label = target[r];
      const mx = Math.max(...row);
      const sum = row.reduce((s, v) => s + Math.exp(v - mx), 0);
      loss += Math.log(sum) + mx - row[label];
      if (row.indexOf(mx) === label) correct++;
      row.forEach((v, j) => { dy[r * cols + j] = (Math.exp(v - mx) / sum - (j === label ? 1 : 0)) * gradScale; });
    } else if (fn === 'sigmoid-bce') {
      row.forEach((z, j) => {
        const tj = target[r * cols + j];
        loss += Math.max(z, 0) - z * tj + Math.log1p(Math.exp(-Math.abs(z)));
        if ((z > 0) === (tj > 0.5)) correct++;
        dy[r * cols + j] = (1 / (1 + Math.exp(-z)) - tj) * gradScale;
      });
    } else {
      let s = 0;
      row.forEach((v, j) => { const e = v - target[r * cols + j]; s += e * e; dy[r * cols + j] = (2 / cols) * e * gradScale; });
      loss += s / cols;
    }
  }
  return { loss, correct, dy };
}

const LOSSES: LossFn[] = ['softmax-xent', 'sigmoid-bce', 'mse'];
const ACTS: ActFn[] = ['relu', 'sigmoid', 'tanh'];

/** A loss machine: y, dy, target (i32 labels or f32), meta. */
function lossMachine(core: Core, fn: LossFn, maxRows: number, cols: number, seed: number): Machine {
  const m = new Machine(core).alloc('y', maxRows * cols).alloc('dy', maxRows * cols).alloc('target', maxRows * cols).alloc('meta', META_FLOATS);
  m.set('y', randoms(maxRows * cols, seed, 3));
  if (fn === 'softmax-xent') m.i32('target').set(Array.from({ length: maxRows }, (_, r) => (r * 7 + seed) % cols));
  else if (fn === 'sigmoid-bce') m.set('target', Array.from({ length: maxRows * cols }, (_, i) => ((i * 5 + seed) % 3 === 0 ? 1 : 0)));
  else m.set('target', randoms(maxRows * cols, seed + 99, 2));
  // Edge cases of `correct`: a logit of exactly 0 (counts as "predicts 0"), and a tie for the
  // maximum between column 0 and the label (the first arg-max, 0, is the prediction: a miss).
  const y = m.f32('y');
  if (fn === 'sigmoid-bce') y[0] = 0;
  const label1 = m.i32('target')[1];
  if (fn === 'softmax-xent' && maxRows > 1 && label1 > 0) { y[cols] = 5; y[cols + label1] = 5; }
  return m;
}
const targetOf = (m: Machine, fn: LossFn): ArrayLike<number> => (fn === 'softmax-xent' ? m.i32('target') : m.f32('target'));
const lossOp = (fn: LossFn, maxRows: number, cols: number, dy: Ref | null = R('dy')): Op =>
  ({ op: 'loss', fn, dy, y: R('y'), target: R('target'), maxRows, cols, meta: R('meta') });

t.test('forwards and backwards match f64 references', async (t) => {
  const core = await loadCore('node');
  t.test('bias, biasGrad', async (t) => {
    const rows = 5, cols = 7;
    const m = new Machine(core).alloc('y', rows * cols).alloc('b', cols).alloc('db', cols);
    const y = randoms(rows * cols, 1), b = randoms(cols, 2);
    m.set('y', y); m.set('b', b); m.set('db', randoms(cols, 3)); // biasGrad overwrites
    m.run([{ op: 'bias', y: R('y'), bias: R('b'), rows, cols }, { op: 'biasGrad', dbias: R('db'), dy: R('y'), rows, cols }]);
    const want = y.map((v, i) => v + b[i % cols]);
    close(t, m.get('y'), want, 'bias');
    close(t, m.get('db'), b.map((_, j) => { let s = 0; for (let r = 0; r < rows; r++) s += want[r * cols + j]; return s; }), 'biasGrad');
  });
  for (const fn of ACTS) {
    t.test(`act ${fn}, actGrad ${fn}, in place and not`, async (t) => {
      const n = 11;
      const m = new Machine(core).alloc('x', n).alloc('y', n).alloc('x2', n).alloc('dy', n).alloc('dx', n);
      const x = randoms(n, 4, 4), dy = randoms(n, 5);
      m.set('x', x); m.set('x2', x); m.set('dy', dy);
      m.run([
        { op: 'act', fn, y: R('y'), x: R('x'), n },
        { op: 'act', fn, y: R('x2'), x: R('x2'), n },
        { op: 'actGrad', fn, dx: R('dx'), dy: R('dy'), y: R('y'), n },
      ]);
      const y = m.get('y');
      close(t, y, x.map(ACT[fn].f), `${fn} forward`);
      t.same(m.get('x2'), y, 'in place = out of place');
      t.same(m.get('x'), x, 'x unchanged');
      close(t, m.get('dx'), dy.map((g, i) => g * ACT[fn].dfFromY(y[i])), `${fn} backward`);
      m.run([{ op: 'actGrad', fn, dx: R('dy'), dy: R('dy'), y: R('y'), n }]);
      t.same(m.get('dy'), m.get('dx'), 'actGrad in place (dx = dy) = out of place');
    });
  }
  t.test('copy2d: concat forward, backward, accumulate', async (t) => {
    const rows = 3, ca = 3, cb = 5, w = ca + cb;
    const m = new Machine(core).alloc('a', rows * ca).alloc('b', rows * cb).alloc('cat', rows * w).alloc('da', rows * ca);
    const a = randoms(rows * ca, 6), b = randoms(rows * cb, 7), acc0 = randoms(rows * ca, 8);
    m.set('a', a); m.set('b', b); m.set('da', acc0);
    m.run([
      { op: 'copy2d', dst: R('cat'), ldDst: w, src: R('a'), ldSrc: ca, rows, cols: ca, acc: false },
      { op: 'copy2d', dst: R('cat', ca), ldDst: w, src: R('b'), ldSrc: cb, rows, cols: cb, acc: false },
    ]);
    const cat = m.get('cat');
    const want = new Float64Array(rows * w);
    for (let r = 0; r < rows; r++) { for (let j = 0; j < ca; j++) want[r * w + j] = a[r * ca + j]; for (let j = 0; j < cb; j++) want[r * w + ca + j] = b[r * cb + j]; }
    t.same(cat, want, 'concat forward is exact');
    m.run([{ op: 'copy2d', dst: R('da'), ldDst: ca, src: R('cat'), ldSrc: w, rows, cols: ca, acc: true }]);
    close(t, m.get('da'), acc0.map((v, i) => v + a[i]), 'backward slice, accumulated');
  });
  t.test('interact, interactGrad (k=4, d=3, rows=3)', async (t) => {
    const rows = 3, k = 4, d = 3, pairs = (k * (k - 1)) / 2;
    const m = new Machine(core).alloc('t', rows * k * d).alloc('z', rows * pairs).alloc('dz', rows * pairs).alloc('dt', rows * k * d);
    const tt = randoms(rows * k * d, 9), dz = randoms(rows * pairs, 10);
    m.set('t', tt); m.set('dz', dz); m.set('dt', randoms(rows * k * d, 11)); // overwritten
    m.run([{ op: 'interact', z: R('z'), t: R('t'), rows, k, d }, { op: 'interactGrad', dt: R('dt'), dz: R('dz'), t: R('t'), rows, k, d }]);
    close(t, m.get('z'), interactRef(tt, rows, k, d), 'interact');
    close(t, m.get('dt'), interactGradRef(dz, tt, rows, k, d), 'interactGrad');
  });
  for (const fn of LOSSES) {
    t.test(`loss ${fn}`, async (t) => {
      const rows = 4, cols = 5, scale = 1 / 8;
      const m = lossMachine(core, fn, rows, cols, 12);
      m.setMeta('meta', rows, scale);
      const ref = lossRef(fn, m.get('y'), targetOf(m, fn), rows, cols, scale);
      m.run([lossOp(fn, rows, cols)]);
      const got = m.meta('meta');
      close(t, [got.loss], [ref.loss], 'loss sum');
      t.equal(got.correct, ref.correct, `correct = ${ref.correct}`);
      close(t, m.get('dy'), ref.dy, 'dy');
      // dy aliasing y gives the same gradient.
      const dy = m.get('dy');
      m.run([{ ...lossOp(fn, rows, cols), dy: R('y') } as Op]);
      t.same(m.get('y'), dy, 'dy = y (in place) gives the same dy');
    });
  }
});

t.test('gradients equal central differences of the core forward', async (t) => {
  const core = await loadCore('node');
  t.test('bias + biasGrad', async (t) => {
    const rows = 4, cols = 6;
    const m = new Machine(core).alloc('x', rows * cols).alloc('y', rows * cols).alloc('b', cols).alloc('w', rows * cols).alloc('db', cols);
    m.set('x', randoms(rows * cols, 1)); m.set('b', randoms(cols, 2)); m.set('w', randoms(rows * cols, 3));
    const w = m.get('w');
    const fwd = (): number => {
      m.run([{ op: 'copy2d', dst: R('y'), ldDst: cols, src: R('x'), ldSrc: cols, rows, cols, acc: false }, { op: 'bias', y: R('y'), bias: R('b'), rows, cols }]);
      return dot(w, m.get('y'));
    };
    m.run([{ op: 'biasGrad', dbias: R('db'), dy: R('w'), rows, cols }]);
    fdCheck(t, m, 'b', m.get('db'), fwd, 'dbias');
  });
  for (const fn of ACTS) {
    t.test(`act ${fn}`, async (t) => {
      const n = 13;
      const m = new Machine(core).alloc('x', n).alloc('y', n).alloc('w', n).alloc('dx', n);
      m.set('x', randoms(n, 4, 2, 0.1)); m.set('w', randoms(n, 5));
      const w = m.get('w');
      const fwd = (): number => { m.run([{ op: 'act', fn, y: R('y'), x: R('x'), n }]); return dot(w, m.get('y')); };
      fwd();
      m.run([{ op: 'actGrad', fn, dx: R('dx'), dy: R('w'), y: R('y'), n }]);
      fdCheck(t, m, 'x', m.get('dx'), fwd, `d${fn}`);
    });
  }
  for (const fn of LOSSES) {
    t.test(`loss ${fn}`, async (t) => {
      const rows = 3, cols = 4, scale = 1 / 6;
      const m = lossMachine(core, fn, rows, cols, 21);
      m.setMeta('meta', rows, scale);
      m.run([lossOp(fn, rows, cols)]);
      const dy = m.get('dy');
      const fwd = (): number => { m.run([lossOp(fn, rows, cols, null)]); return m.meta('meta').loss * scale; };
      fdCheck(t, m, 'y', dy, fwd, `dy of loss·gradScale`);
    });
  }
  t.test('copy2d concat forward / backward', async (t) => {
    const rows = 3, ca = 2, cb = 5, w = ca + cb;
    const m = new Machine(core).alloc('a', rows * ca).alloc('b', rows * cb).alloc('cat', rows * w).alloc('w', rows * w)
      .alloc('da', rows * ca).alloc('db', rows * cb);
    m.set('a', randoms(rows * ca, 1)); m.set('b', randoms(rows * cb, 2)); m.set('w', randoms(rows * w, 3));
    const wt = m.get('w');
    const fwd = (): number => {
      m.run([
        { op: 'copy2d', dst: R('cat'), ldDst: w, src: R('a'), ldSrc: ca, rows, cols: ca, acc: false },
        { op: 'copy2d', dst: R('cat', ca), ldDst: w, src: R('b'), ldSrc: cb, rows, cols: cb, acc: false },
      ]);
      const c = m.get('cat');
      return dot(wt, c) + 0.5 * dot(c, c); // not linear, so the gradient depends on the forward
    };
    fwd();
    m.run([
      { op: 'add', dst: R('w'), src: R('cat'), n: rows * w }, // dcat = w + cat
      { op: 'zero', dst: R('db'), n: rows * cb },
      { op: 'copy2d', dst: R('da'), ldDst: ca, src: R('w'), ldSrc: w, rows, cols: ca, acc: false },
      { op: 'copy2d', dst: R('db'), ldDst: cb, src: R('w', ca), ldSrc: w, rows, cols: cb, acc: true },
    ]);
    m.set('w', wt);
    fdCheck(t, m, 'a', m.get('da'), fwd, 'da');
    fdCheck(t, m, 'b', m.get('db'), fwd, 'db');
  });
  t.test('interact / interactGrad (k=4, d=3, rows=3)', async (t) => {
    const rows = 3, k = 4, d = 3, pairs = 6;
    const m = new Machine(core).alloc('t', rows * k * d).alloc('z', rows * pairs).alloc('w', rows * pairs).alloc('dt', rows * k * d);
    m.set('t', randoms(rows * k * d, 7)); m.set('w', randoms(rows * pairs, 8));
    const w = m.get('w');
    const fwd = (): number => { m.run([{ op: 'interact', z: R('z'), t: R('t'), rows, k, d }]); return dot(w, m.get('z')); };
    m.run([{ op: 'interactGrad', dt: R('dt'), dz: R('w'), t: R('t'), rows, k, d }]);
    fdCheck(t, m, 't', m.get('dt'), fwd, 'dt');
  });
  t.test('chain: concat → interact → bias → tanh → mse, backward through all of them', async (t) => {
    const rows = 3, d = 3, k = 4, pairs = 6, maxRows = 4, scale = 1 / 5;
    const m = new Machine(core)
      .alloc('x0', rows * d).alloc('e', rows * (k - 1) * d).alloc('t', maxRows * k * d).alloc('y', maxRows * pairs)
      .alloc('b', pairs).alloc('target', maxRows * pairs).alloc('meta', META_FLOATS).alloc('dy', maxRows * pairs)
      .alloc('db', pairs).alloc('dt', rows * k * d).alloc('dx0', rows * d).alloc('de', rows * (k - 1) * d);
    m.set('x0', randoms(rows * d, 1)); m.set('e', randoms(rows * (k - 1) * d, 2)); m.set('b', randoms(pairs, 3, 0.5));
    m.set('target', randoms(maxRows * pairs, 4, 0.8));
    m.setMeta('meta', rows, scale);
    const forward: Op[] = [
      { op: 'copy2d', dst: R('t'), ldDst: k * d, src: R('x0'), ldSrc: d, rows, cols: d, acc: false },
      { op: 'copy2d', dst: R('t', d), ldDst: k * d, src: R('e'), ldSrc: (k - 1) * d, rows, cols: (k - 1) * d, acc: false },
      { op: 'interact', z: R('y'), t: R('t'), rows, k, d },
      { op: 'bias', y: R('y'), bias: R('b'), rows, cols: pairs },
      { op: 'act', fn: 'tanh', y: R('y'), x: R('y'), n: rows * pairs },
    ];
    const backward: Op[] = [
      { op: 'actGrad', fn: 'tanh', dx: R('dy'), dy: R('dy'), y: R('y'), n: rows * pairs },
      { op: 'biasGrad', dbias: R('db'), dy: R('dy'), rows, cols: pairs },
      { op: 'interactGrad', dt: R('dt'), dz: R('dy'), t: R('t'), rows, k, d },
      { op: 'copy2d', dst: R('dx0'), ldDst: d, src: R('dt'), ldSrc: k * d, rows, cols: d, acc: false },
      { op: 'copy2d', dst: R('de'), ldDst: (k - 1) * d, src: R('dt', d), ldSrc: k * d, rows, cols: (k - 1) * d, acc: false },
    ];
    const loss: Op = { op: 'loss', fn: 'mse', dy: R('dy'), y: R('y'), target: R('target'), maxRows, cols: pairs, meta: R('meta') };
    m.run([...forward, loss, ...backward]);
    const dx0 = m.get('dx0'), de = m.get('de'), db = m.get('db');
    t.ok(dx0.some((v) => v !== 0) && de.some((v) => v !== 0), 'gradients are not trivially zero');
    const fwd = (): number => { m.run([...forward, { ...loss, dy: null }]); return m.meta('meta').loss * scale; };
    fdCheck(t, m, 'x0', dx0, fwd, 'dx0 (concat block 0)');
    fdCheck(t, m, 'e', de, fwd, 'de (concat block 1)');
    fdCheck(t, m, 'b', db, fwd, 'dbias');
  });
});

t.test('loss padding rows: dy zeroed, nothing added', async (t) => {
  const core = await loadCore('node');
  for (const fn of LOSSES) {
    const rows = 2, maxRows = 5, cols = 4, scale = 1 / 7;
    const m = lossMachine(core, fn, maxRows, cols, 31);
    // Padding rows hold huge logits: if they were counted, the loss would show it.
    const y = m.f32('y');
    for (let i = rows * cols; i < maxRows * cols; i++) y[i] = 1e4 * (i % 2 ? 1 : -1);
    m.set('dy', new Float32Array(maxRows * cols).fill(NaN));
    m.setMeta('meta', rows, scale);
    m.run([lossOp(fn, maxRows, cols)]);
    const ref = lossRef(fn, m.get('y'), targetOf(m, fn), rows, cols, scale);
    const got = m.meta('meta');
    close(t, [got.loss], [ref.loss], `${fn}: loss sums the ${rows} real rows only`);
    t.equal(got.correct, ref.correct, `${fn}: correct counts the real rows only`);
    const dy = m.get('dy');
    close(t, dy.subarray(0, rows * cols), ref.dy, `${fn}: dy of real rows`);
    t.ok(dy.subarray(rows * cols).every((v) => Object.is(v, 0)), `${fn}: dy of padding rows is +0`);
    m.setMeta('meta', 0, scale);
    m.set('dy', new Float32Array(maxRows * cols).fill(NaN));
    m.run([lossOp(fn, maxRows, cols)]);
    t.same(m.meta('meta'), { loss: 0, correct: 0 }, `${fn}: rows = 0 gives loss 0, correct 0`);
    t.ok(m.get('dy').every((v) => Object.is(v, 0)), `${fn}: rows = 0 zeroes all of dy`);
    m.setMeta('meta', maxRows + 1, scale);
    t.throws(() => m.run([lossOp(fn, maxRows, cols)]), `${fn}: rows > maxRows traps`);
  }
});

t.test('loss with dy null writes nothing but the meta results', async (t) => {
  const core = await loadCore('node');
  for (const fn of LOSSES) {
    const rows = 3, maxRows = 4, cols = 6, scale = 0.25;
    const m = lossMachine(core, fn, maxRows, cols, 41);
    m.set('dy', new Float32Array(maxRows * cols).fill(7));
    m.setMeta('meta', rows, scale);
    m.run([lossOp(fn, maxRows, cols)]);
    const withGrad = m.meta('meta');
    m.set('dy', new Float32Array(maxRows * cols).fill(7));
    const meta = m.at.get('meta')!;
    new Float64Array(core.memory.buffer, meta.addr + 8, 1)[0] = -1;
    const before = m.bytes();
    m.run([lossOp(fn, maxRows, cols, null)]);
    const after = m.bytes();
    const off = meta.addr - align16(core.exports.heapBase());
    let changed = -1;
    for (let i = 0; i < before.length; i++) if (before[i] !== after[i] && !(i >= off + 8 && i < off + 20)) { changed = i; break; }
    t.equal(changed, -1, `${fn}: no byte outside meta's results changed (dy stays 7, address 0 untouched)`);
    t.same(m.meta('meta'), withGrad, `${fn}: same loss and correct as with a gradient`);
  }
});

t.test('the ops keep the direct kernels\' bits (bias, biasGrad, relu, softmax cross-entropy)', async (t) => {
  for (const flavour of FLAVOURS) {
    const core = await loadCore(flavour);
    const rows = 5, cols = 10, n = rows * cols;
    const m = new Machine(core).alloc('y1', n).alloc('y2', n).alloc('b', cols).alloc('db1', cols).alloc('db2', cols)
      .alloc('g1', n).alloc('g2', n).alloc('lab8', rows).alloc('target', rows).alloc('meta', META_FLOATS).alloc('c', 4);
    const y = randoms(n, 51, 3), b = randoms(cols, 52);
    m.set('y1', y); m.set('y2', y); m.set('b', b);
    const A = (name: string): number => m.at.get(name)!.addr;
    const e = core.exports;
    e.biasAddF32(A('y1'), A('b'), rows, cols); e.reluF32(A('y1'), n);
    m.run([{ op: 'bias', y: R('y2'), bias: R('b'), rows, cols }, { op: 'act', fn: 'relu', y: R('y2'), x: R('y2'), n }]);
    t.same(m.f32('y2'), m.f32('y1'), `${flavour}: bias + relu ops = biasAddF32 + reluF32`);
    m.set('g1', randoms(n, 53)); m.set('g2', m.f32('g1'));
    e.reluBackwardF32(A('g1'), A('y1'), n); e.biasGradF32(A('db1'), A('g1'), rows, cols);
    m.run([{ op: 'actGrad', fn: 'relu', dx: R('g2'), dy: R('g2'), y: R('y2'), n }, { op: 'biasGrad', dbias: R('db2'), dy: R('g2'), rows, cols }]);
    t.same(m.f32('g2'), m.f32('g1'), `${flavour}: actGrad relu = reluBackwardF32`);
    t.same(m.f32('db2'), m.f32('db1'), `${flavour}: biasGrad op = biasGradF32`);
    const labels = Array.from({ length: rows }, (_, r) => (r * 3 + 1) % cols);
    new Uint8Array(core.memory.buffer, A('lab8'), rows).set(labels);
    m.i32('target').set(labels);
    m.set('y1', y); m.set('y2', y);
    const scale = Math.fround(1 / 9);
    const loss1 = e.softmaxXentF32(A('g1'), A('y1'), A('lab8'), rows, cols, A('c'), scale);
    m.setMeta('meta', rows, scale);
    m.run([{ op: 'loss', fn: 'softmax-xent', dy: R('g2'), y: R('y2'), target: R('target'), maxRows: rows, cols, meta: R('meta') }]);
    t.same(m.f32('g2'), m.f32('g1'), `${flavour}: loss softmax-xent dy = softmaxXentF32`);
    t.same(m.meta('meta'), { loss: loss1, correct: m.i32('c')[0] }, `${flavour}: same loss sum and correct`);
  }
});

t.test('every op gives identical bits on node, edge-simd and edge-scalar', async (t) => {
  /** One program over every op and fn, with lengths that leave SIMD tails. */
  const runAll = async (flavour: typeof FLAVOURS[number]): Promise<Uint8Array> => {
    const core = await loadCore(flavour);
    const rows = 5, cols = 7, n = rows * cols, k = 4, d = 3, pairs = 6;
    const m = new Machine(core);
    for (const [name, floats] of [['x', n], ['b', cols], ['db', cols], ['t', rows * k * d], ['z', rows * pairs], ['dt', rows * k * d],
      ['cat', rows * (cols + 3)], ['w', n]] as const) m.alloc(name, floats);
    for (const fn of ACTS) m.alloc(`y-${fn}`, n).alloc(`dx-${fn}`, n);
    for (const fn of LOSSES) m.alloc(`ly-${fn}`, (rows + 1) * cols).alloc(`ldy-${fn}`, (rows + 1) * cols).alloc(`lt-${fn}`, (rows + 1) * cols).alloc(`meta-${fn}`, META_FLOATS);
    m.set('x', randoms(n, 61, 3)); m.set('b', randoms(cols, 62)); m.set('t', randoms(rows * k * d, 63)); m.set('w', randoms(n, 64));
    const ops: Op[] = [
      { op: 'bias', y: R('x'), bias: R('b'), rows, cols },
      { op: 'biasGrad', dbias: R('db'), dy: R('x'), rows, cols },
      { op: 'interact', z: R('z'), t: R('t'), rows, k, d },
      { op: 'interactGrad', dt: R('dt'), dz: R('z'), t: R('t'), rows, k, d },
      { op: 'copy2d', dst: R('cat'), ldDst: cols + 3, src: R('x'), ldSrc: cols, rows, cols, acc: false },
      { op: 'copy2d', dst: R('cat', cols), ldDst: cols + 3, src: R('t'), ldSrc: k * d, rows, cols: 3, acc: true },
    ];
    for (const fn of ACTS) {
      ops.push({ op: 'act', fn, y: R(`y-${fn}`), x: R('x'), n }, { op: 'actGrad', fn, dx: R(`dx-${fn}`), dy: R('w'), y: R(`y-${fn}`), n });
    }
    for (const fn of LOSSES) {
      m.set(`ly-${fn}`, randoms((rows + 1) * cols, 65, 4));
      if (fn === 'softmax-xent') m.i32(`lt-${fn}`).set(Array.from({ length: rows + 1 }, (_, r) => (r * 2) % cols));
      else m.set(`lt-${fn}`, Array.from({ length: (rows + 1) * cols }, (_, i) => (fn === 'mse' ? Math.sin(i) : i % 3 === 0 ? 1 : 0)));
      m.setMeta(`meta-${fn}`, rows, 1 / 11);
      ops.push({ op: 'loss', fn, dy: R(`ldy-${fn}`), y: R(`ly-${fn}`), target: R(`lt-${fn}`), maxRows: rows + 1, cols, meta: R(`meta-${fn}`) });
    }
    m.run(ops);
    return m.bytes();
  };
  const [ref, ...others] = await Promise.all(FLAVOURS.map(runAll));
  t.ok(ref.some((v) => v !== 0), 'the program wrote something');
  others.forEach((bytes, i) => {
    const at = bytes.findIndex((v, j) => v !== ref[j]);
    t.equal(at, -1, `${FLAVOURS[i + 1]} = ${FLAVOURS[0]} bit for bit (${bytes.length} bytes)`);
  });
});
