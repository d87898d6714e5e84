// Post-training quantisation of an inference program: the f32 ops of one batch-1 forward pass
// (src/export/image.ts) become integer ops (assembly/quant.ts) with a power-of-two scale per
// tensor. Weights: symmetric, one scale per tensor, the largest that holds its max |w|.
// Activations: one scale per op output, the largest that holds the max |value| that op wrote on
// the calibration rows (calibrate.ts). Accumulation in int32; the requantisation (round half to
// even, saturate) sits in every contraction except the model's last, whose int32 accumulator is
// the score (no rounding of the logits at all). Biases are added in the integer domain at the
// scale of what they are added to; ReLU is a max; permutes move integers.
import type { Op, Ref } from '../tn/compile.js';
import { product } from '../util/math.js';
import { quantize, newCounters, type FixedCounters } from '../../hw-sim/fixed/fixed-point.js';
import { destExtent } from './calibrate.js';

export const Q = { i8: 0, i16: 1, i32: 2 } as const;
export type QType = 0 | 1 | 2;
export const qBytes = (t: QType): number => 1 << t;

/** A symbolic operand: a buffer key and an element offset (scaled to bytes at layout time). */
export interface QRef { buf: string; off: number }

export type QOp =
  | { op: 'qgemm'; c: QRef; ldc: number; a: QRef; sai: number; sak: number; strideA: number; b: QRef; ldb: number; strideB: number;
      m: number; n: number; k: number; t: number; h: number; hc: number; ha: number; hb: number; aT: QType; bT: QType; cT: QType; shift: number }
  | { op: 'qpermute'; dst: QRef; src: QRef; dims: number[]; strides: number[]; elemBytes: number }
  | { op: 'qbias'; y: QRef; bias: QRef; rows: number; cols: number; type: QType }
  | { op: 'qrelu'; y: QRef; x: QRef; n: number; type: QType }
  | { op: 'qlut'; dst: QRef; src: QRef; n: number; table: QRef; type: QType }
  | { op: 'qaffine'; dst: QRef; src: QRef; mean: QRef; invStd: QRef; rows: number; cols: number; type: QType; frac: number };

/** A constant the quantised program reads: packed integers (weights, biases, tables) or f32 (affine tables). */
export interface QConst { key: string; bytes: Uint8Array; elem: 'i8' | 'i16' | 'i32' | 'f32' }

export interface QuantProgram {
  bits: 8 | 16;
  ops: QOp[];
  consts: QConst[];
  /** Bytes per element slot of each mutable buffer: its regions' largest element. */
  slotBytes: Map<string, number>;
  /** The scores: int32 (the last contraction's accumulator, with bias) at 2^−outputFrac. */
  outputType: QType;
  outputFrac: number;
  /** Fraction bits chosen per weight tensor and per op output (for model.json and reports). */
  weightFracs: Record<string, number>;
  activationFracs: { op: number; kind: string; frac: number; maxAbs: number }[];
  /** Weights and biases that saturated when quantised (should be 0: scales come from the max). */
  counters: FixedCounters;
  /** Contractions whose calibrated accumulator exceeds 2^30 with no weight left to rescale (may wrap on unseen rows). */
  headroom: { op: number; accMax: number }[];
}

export interface QuantInputs {
  ops: Op[];
  bits: 8 | 16;
  /** Calibrated max |value| per op (Calibrator.maxAbs). */
  maxAbs: Float64Array;
  /** The f32 contents of a constant buffer key (weights, biases, tables), or undefined for mutable ones. */
  constant: (key: string) => Float32Array | undefined;
  /** Keys that hold the model's f32 inputs (slot 4 bytes) and u8 inputs (slot 1 byte). */
  inputSlots: Map<string, number>;
  outputKey: string;
}

const MAX_SHIFT = 31;
/** The largest calibrated |accumulator| a contraction may reach: half of int32, headroom for unseen rows. */
const ACC_LIMIT = 2 ** 30;
/** The largest fraction bits whose range holds maxAbs at `bits` (2^−frac steps). */
export function fracFor(maxAbs: number, bits: number): number {
  const qmax = 2 ** (bits - 1) - 1;
  if (!(maxAbs > 0) || !Number.isFinite(maxAbs)) return bits - 1;
  return Math.max(-64, Math.min(64, Math.floor(Math.log2(qmax / maxAbs))));
}

interface Region { off: number; len: number; frac: number; type: QType }

/** A program the quantiser cannot lower (a user-facing limit, exit 2). */
export class QuantError extends Error {
  constructor(message: string) { super(message); this.name = 'QuantError'; }
}

export function quantiseProgram(q: QuantInputs): QuantProgram {
  const actT: QType = q.bits === 8 ? Q.i8 : Q.i16;
  const wT: QType = actT;
  const counters = newCounters();
  const consts = new Map<string, QConst>();
  const weightFracs: Record<string, number> = {};
  const regions = new Map<string, Region[]>();
  const activationFracs: QuantProgram['activationFracs'] = [];
  const headroom: QuantProgram['headroom'] = [];
  const interior: { buf: string; type: QType; what: string }[] = [];
  const lastGemm = q.ops.map((o) => o.op).lastIndexOf('gemm');

  const write = (buf: string, r: Region): void => {
    const list = (regions.get(buf) ?? []).filter((x) => x.off + x.len <= r.off || x.off >= r.off + r.len);
    list.push(r);
    regions.set(buf, list);
  };
  /** The frac and type of what sits at [off, off + len) of a mutable buffer: one region must cover it. */
  const read = (ref: Ref, len: number, what: string): Region => {
    const hit = (regions.get(ref.buf) ?? []).filter((x) => x.off < ref.off + len && ref.off < x.off + x.len);
    if (hit.length !== 1 || hit[0].off > ref.off || hit[0].off + hit[0].len < ref.off + len) {
      throw new QuantError(`quantise: ${what} reads ${ref.buf}[${ref.off}, +${len}), written as ${hit.length} regions: this program cannot be quantised yet`);
    }
    // Elements sit at off × slot bytes: a read from inside a region is only right when the slot is its element size.
    if (hit[0].off !== ref.off) interior.push({ buf: ref.buf, type: hit[0].type, what });
    return hit[0];
  };
  /** A weight tensor quantised once, symmetric, one scale for the tensor. */
  const naturalFrac = (key: string): number => {
    let mx = 0;
    for (const v of q.constant(key)!) mx = Math.max(mx, Math.abs(v));
    return fracFor(mx, q.bits);
  };
  const weight = (ref: Ref, cap = Infinity): { frac: number; type: QType } => {
    const key = ref.buf;
    if (!consts.has(key)) {
      const w = q.constant(key)!;
      const frac = Math.min(naturalFrac(key), cap);
      const data = q.bits === 8 ? new Int8Array(w.length) : new Int16Array(w.length);
      for (let i = 0; i < w.length; i++) data[i] = quantize(w[i], { bits: q.bits, frac }, 'nearest-even', counters);
      consts.set(key, { key, bytes: new Uint8Array(data.buffer), elem: q.bits === 8 ? 'i8' : 'i16' });
      weightFracs[key] = frac;
    }
    return { frac: weightFracs[key], type: wT };
  };
  const operand = (ref: Ref, len: number, what: string, cap = Infinity): { frac: number; type: QType } =>
    (q.constant(ref.buf) ? weight(ref, cap) : read(ref, len, what));
  /** A weight not quantised yet: its scale can still be lowered for a contraction's headroom. */
  const fresh = (ref: Ref): boolean => Boolean(q.constant(ref.buf)) && !consts.has(ref.buf);
  const provisional = (ref: Ref, len: number, what: string): number =>
    (fresh(ref) ? naturalFrac(ref.buf) : operand(ref, len, what).frac);
  /** The largest |value| written into op i's output by it and by in-place ops on it right after. */
  const outputMax = (i: number): number => {
    const d = destExtent(q.ops[i])!;
    let mx = q.maxAbs[i];
    for (let j = i + 1; j < q.ops.length; j++) {
      const o = q.ops[j];
      const inPlace = (o.op === 'bias' && o.y.buf === d.ref.buf && o.y.off === d.ref.off) || (o.op === 'act' && o.y.buf === d.ref.buf && o.y.off === d.ref.off);
      if (!inPlace) break;
      mx = Math.max(mx, q.maxAbs[j]);
    }
    return mx;
  };

  const ops: QOp[] = [];
  q.ops.forEach((o, i) => {
    switch (o.op) {
      case 'lut': {
        const frac = fracFor(outputMax(i), q.bits);
        const table = q.constant(o.table.buf)!;
        const ints = new Int32Array(256);
        for (let b = 0; b < 256; b++) ints[b] = quantize(table[o.table.off + b], { bits: q.bits, frac }, 'nearest-even', counters);
        const key = `${o.table.buf}.q${i}`;
        consts.set(key, { key, bytes: new Uint8Array(ints.buffer), elem: 'i32' });
        write(o.dst.buf, { off: o.dst.off, len: o.n, frac, type: actT });
        activationFracs.push({ op: i, kind: 'input', frac, maxAbs: outputMax(i) });
        ops.push({ op: 'qlut', dst: o.dst, src: o.src, n: o.n, table: { buf: key, off: 0 }, type: actT });
        return;
      }
      case 'affine': {
        const frac = fracFor(outputMax(i), q.bits);
        write(o.dst.buf, { off: o.dst.off, len: o.rows * o.cols, frac, type: actT });
        activationFracs.push({ op: i, kind: 'input', frac, maxAbs: outputMax(i) });
        for (const r of [o.mean, o.invStd]) if (!consts.has(r.buf)) consts.set(r.buf, { key: r.buf, bytes: new Uint8Array(q.constant(r.buf)!.slice().buffer), elem: 'f32' });
        ops.push({ op: 'qaffine', dst: o.dst, src: o.src, mean: o.mean, invStd: o.invStd, rows: o.rows, cols: o.cols, type: actT, frac });
        return;
      }
      case 'gemm': {
        if (o.acc) throw new QuantError('quantise: an accumulating contraction: not supported yet');
        const lenA = (o.h - 1) * o.ha + (o.t - 1) * o.strideA + (o.m - 1) * o.sai + (o.k - 1) * o.sak + 1;
        const lenB = (o.h - 1) * o.hb + (o.t - 1) * o.strideB + (o.k - 1) * o.ldb + o.n;
        // Headroom: wrapping int32 sums are exact whenever the final sum fits, so only the largest
        // calibrated result counts; above ACC_LIMIT a fresh weight gives up the bits it needs.
        let capA = Infinity, capB = Infinity;
        const fa0 = provisional(o.a, lenA, `gemm ${i} A`), fb0 = provisional(o.b, lenB, `gemm ${i} B`);
        // The last contraction's int32 accumulator also takes its bias: its range counts too.
        const accMax = (i === lastGemm ? outputMax(i) : q.maxAbs[i]) * 2 ** (fa0 + fb0);
        if (accMax > ACC_LIMIT) {
          const excess = Math.ceil(Math.log2(accMax / ACC_LIMIT));
          if (fresh(o.b)) capB = fb0 - excess; else if (fresh(o.a)) capA = fa0 - excess;
          else headroom.push({ op: i, accMax });
        }
        const a = operand(o.a, lenA, `gemm ${i} A`, capA);
        const b = operand(o.b, lenB, `gemm ${i} B`, capB);
        const accFrac = a.frac + b.frac;
        if (Math.abs(accFrac) > 64) throw new QuantError(`quantise: contraction ${i} would need 2^${-accFrac} steps (values near 0 or huge on every calibration row); check the calibration data or use --bits 32`);
        let cT: QType = actT, frac: number, shift: number;
        if (i === lastGemm) { cT = Q.i32; frac = accFrac; shift = 0; } else {
          frac = fracFor(outputMax(i), q.bits);
          shift = accFrac - frac;
          if (shift > MAX_SHIFT) { shift = MAX_SHIFT; frac = accFrac - MAX_SHIFT; }
          if (shift < -MAX_SHIFT) { shift = -MAX_SHIFT; frac = accFrac + MAX_SHIFT; }
          activationFracs.push({ op: i, kind: 'contraction', frac, maxAbs: outputMax(i) });
        }
        write(o.c.buf, { off: o.c.off, len: destExtent(o)!.len, frac, type: cT });
        ops.push({ op: 'qgemm', c: o.c, ldc: o.ldc, a: o.a, sai: o.sai, sak: o.sak, strideA: o.strideA, b: o.b, ldb: o.ldb, strideB: o.strideB,
          m: o.m, n: o.n, k: o.k, t: o.t, h: o.h, hc: o.hc, ha: o.ha, hb: o.hb, aT: a.type, bT: b.type, cT, shift });
        return;
      }
      case 'permute': {
        const n = product(o.dims);
        const span = o.dims.reduce((s, d, j) => s + (d - 1) * o.strides[j], 0) + 1;
        const src = operand(o.src, span, `permute ${i}`);
        write(o.dst.buf, { off: o.dst.off, len: n, frac: src.frac, type: src.type });
        ops.push({ op: 'qpermute', dst: o.dst, src: o.src, dims: o.dims, strides: o.strides, elemBytes: qBytes(src.type) });
        return;
      }
      case 'bias': {
        const y = read(o.y, o.rows * o.cols, `bias ${i}`);
        const b = q.constant(o.bias.buf)!;
        const ints = new Int32Array(o.cols);
        for (let j = 0; j < o.cols; j++) ints[j] = quantize(b[o.bias.off + j], { bits: 32, frac: y.frac }, 'nearest-even', counters);
        const key = `${o.bias.buf}.q${i}`;
        consts.set(key, { key, bytes: new Uint8Array(ints.buffer), elem: 'i32' });
        ops.push({ op: 'qbias', y: o.y, bias: { buf: key, off: 0 }, rows: o.rows, cols: o.cols, type: y.type });
        return;
      }
      case 'act': {
        if (o.fn !== 'relu') throw new QuantError(`a ${o.fn} activation: integer export supports relu only so far; use --bits 32`);
        const x = read(o.x, o.n, `relu ${i}`);
        write(o.y.buf, { off: o.y.off, len: o.n, frac: x.frac, type: x.type });
        ops.push({ op: 'qrelu', y: o.y, x: o.x, n: o.n, type: x.type });
        return;
      }
      default:
        throw new QuantError(`op ${o.op}: integer export supports linear layers, relu and input standardisation so far; use --bits 32`);
    }
  });
  const out = read({ buf: q.outputKey, off: 0 }, 1, 'the output');
  const slotBytes = new Map<string, number>(q.inputSlots);
  for (const [buf, list] of regions) slotBytes.set(buf, Math.max(slotBytes.get(buf) ?? 1, ...list.map((r) => qBytes(r.type))));
  const bad = interior.find((x) => slotBytes.get(x.buf) !== qBytes(x.type));
  if (bad) throw new QuantError(`quantise: ${bad.what} reads inside a region of ${bad.buf}, whose slots are wider than its elements: this program cannot be quantised yet`);
  return { bits: q.bits, ops, consts: [...consts.values()], slotBytes, outputType: out.type, outputFrac: out.frac, weightFracs, activationFracs, counters, headroom };
}
