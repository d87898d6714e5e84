// The memory image of an integer (16- or 8-bit) export: the forward program calibrated on N rows
// of the model's training data and quantised (src/quant), laid out like the f32 image — header,
// constants (packed int8/int16 weights, int32 biases, input tables), program, arena — with every
// mutable buffer sized by the widest element it holds (int8 activations take a quarter of f32's).
import type { LoadedModel } from '../model/file.js';
import type { DataSource } from '../runtime/runtime.js';
import { inputTableValues } from '../runtime/input-tables.js';
import { Calibrator } from '../quant/calibrate.js';
import { quantiseProgram, qBytes, QuantError, type QOp, type QRef, type QuantProgram } from '../quant/lower.js';
import { OP_TABLE } from '../tn/opcodes.js';
import { HEADER_BYTES } from './abi.js';
import { rowValues } from './rows.js';
import { frontEnd, planArena, ExportError, type FrontEnd, type ImageOptions, type ModelImage } from './image.js';

const align = (n: number): number => Math.ceil(n / 16) * 16;

export interface Calibration { source: DataSource; rows: number }

/** The calibrated, quantised program: independent of where it is laid out. */
export interface Quantised { front: FrontEnd; quant: QuantProgram; tensorOf: Map<string, Float32Array>; tables: Map<string, Float32Array> }

export function quantiseModel(model: LoadedModel, o: { arenaBytes?: number; bits: 8 | 16; calibration: Calibration }): Quantised {
  let front = frontEnd(model, { base: 0, arenaBytes: o.arenaBytes });
  const { spec, prepared, io, classRule } = front;
  if (classRule !== 'argmaxF32') throw new QuantError(`integer export needs a softmax classifier (its scores are argmax'ed as integers); this model's loss is ${spec.loss.kind}: use --bits 32`);
  const decl = new Map(prepared.buffers.map((b) => [b.name, b]));
  const tensorOf = new Map(prepared.slots.map((s) => [prepared.paramKey(s.name), model.tensors.get(s.name)!.data]));
  const tables = new Map(prepared.inputTables.map((t) => [t.key, inputTableValues(spec, t)]));
  const constant = (key: string): Float32Array | undefined => tensorOf.get(key) ?? tables.get(key);
  const elements = (key: string): number => { const d = decl.get(key)!; return d.dtype === 'u8' ? d.bytes : d.bytes / 4; };
  // An f32 input fed as is (no standardisation) still needs quantising: an identity affine op
  // (mean 0, 1/std 1) in front, with a table of its own, so its scale is calibrated like any other.
  const ops = [...front.ops];
  for (const x of io.inputs) {
    if (x.dtype !== 'f32' || ops.some((o) => o.op === 'affine' && o.dst.buf === x.key)) continue;
    const key = `${x.key}.identity`, pad = Math.ceil(x.width / 4) * 4;
    const t = new Float32Array(2 * pad);
    t.fill(1, pad);
    tables.set(key, t);
    ops.unshift({ op: 'affine', dst: { buf: x.key, off: 0 }, src: { buf: x.key, off: 0 }, mean: { buf: key, off: 0 }, invStd: { buf: key, off: pad }, rows: 1, cols: x.width });
  }
  front = { ...front, ops };

  // Ops the quantiser lowers; anything else is refused before calibration runs.
  for (const o of ops) {
    const ok = ['gemm', 'permute', 'bias', 'lut', 'affine'].includes(o.op) || (o.op === 'act' && o.fn === 'relu');
    if (!ok) throw new QuantError(`${o.op === 'act' ? `a ${o.fn} activation` : `op ${o.op}`}: integer export supports linear layers, relu and input standardisation so far; use --bits 32`);
  }
  // Calibration: the f32 program on N rows, each op's max |output|.
  const cal = new Calibrator(ops, {
    get: (key) => { const c = constant(key); return c ? Float64Array.from(c) : undefined; },
    floats: (key) => constant(key)?.length ?? elements(key),
  });
  const { source, rows } = o.calibration;
  for (let r = 0; r < rows; r++) {
    cal.run((buffer) => {
      for (const x of io.inputs) buffer(x.key).set(rowValues(source.inputs[x.name], r * x.width, (r + 1) * x.width));
    });
  }
  const quant = quantiseProgram({
    ops, bits: o.bits, maxAbs: cal.maxAbs, constant,
    inputSlots: new Map(io.inputs.map((x) => [x.key, x.dtype === 'u8' ? 1 : 4])), outputKey: io.output.key,
  });
  return { front, quant, tensorOf, tables };
}

/** The quantised program laid out from `base` (the header's address). */
export function layoutQuant(q: Quantised, o: ImageOptions & { bits: 8 | 16 }): ModelImage {
  const { spec, prepared, io, used, width, ops } = q.front;
  const { quant, tensorOf, tables } = q;
  const decl = new Map(prepared.buffers.map((b) => [b.name, b]));
  const elements = (key: string): number => { const d = decl.get(key)!; return d.dtype === 'u8' ? d.bytes : d.bytes / 4; };

  // Layout: header, constants (weights first), program, arena.
  const base = align(o.base);
  const weightsAt = base + HEADER_BYTES;
  const constAt = new Map<string, number>(), constElem = new Map<string, number>();
  const isWeight = (key: string): boolean => tensorOf.has(key);
  const ordered = [...quant.consts].sort((a, b) => Number(isWeight(b.key)) - Number(isWeight(a.key)));
  let cursor = weightsAt, weightsBytes = 0;
  for (const c of ordered) {
    constAt.set(c.key, cursor);
    constElem.set(c.key, c.elem === 'i8' ? 1 : c.elem === 'i16' ? 2 : 4);
    if (isWeight(c.key)) weightsBytes = cursor + c.bytes.length - weightsAt;
    cursor = align(cursor + c.bytes.length);
  }
  const tablesAt = align(weightsAt + weightsBytes);
  const programAt = cursor;
  const programWords = linkQuant(quant.ops, () => 0).length;
  const arenaAt = align(programAt + programWords * 4);
  const slot = (key: string): number => quant.slotBytes.get(key) ?? 4;
  const mutable = prepared.buffers.filter((b) => used.has(b.name) && !tables.has(b.name) && b.kind !== 'params')
    .map((b) => ({ ...b, bytes: align(elements(b.name) * slot(b.name)) }));
  const arenaPlan = planArena(mutable, arenaAt, o.arenaBytes);
  const placed = new Map(arenaPlan.buffers.map((b) => [b.name, b.offset]));
  const qaddress = (ref: QRef): number => {
    const c = constAt.get(ref.buf);
    if (c !== undefined) return c + ref.off * constElem.get(ref.buf)!;
    const a = placed.get(ref.buf);
    if (a === undefined) throw new Error(`export: the integer program refers to buffer ${ref.buf}, which the image does not hold`);
    return a + ref.off * slot(ref.buf);
  };
  const program = linkQuant(quant.ops, qaddress);
  const constBytes = new Uint8Array(programAt - weightsAt);
  for (const c of quant.consts) constBytes.set(c.bytes, constAt.get(c.key)! - weightsAt);
  const inputs = io.inputs.map((x) => ({ name: x.name, dtype: x.dtype, width: x.width, address: placed.get(x.key)!, bytes: x.width * (x.dtype === 'u8' ? 1 : 4) }));
  if (quant.outputType !== 2) throw new ExportError('export: the integer scores are not int32 (internal)');
  return {
    spec, prepared, base, weightsAt, weightsBytes, tablesAt, tablesBytes: programAt - tablesAt, programAt, program, arenaAt,
    arenaBytes: arenaPlan.endBytes - arenaAt, arenaPlan, endBytes: arenaPlan.endBytes, inputs,
    output: { address: placed.get(io.output.key)!, width, bytes: width * 4, dtype: 'i32', frac: quant.outputFrac },
    classRule: 'argmaxI32', ops, address: () => { throw new Error('export: f32 addresses of an integer image'); }, constBytes,
    bits: o.bits, quant, qaddress, qops: quant.ops,
    qconsts: ordered.map((c) => ({ key: c.key, at: constAt.get(c.key)!, bytes: c.bytes, elem: c.elem })),
  };
}

/** The integer ops as core words (assembly/quant.ts layouts). */
export function linkQuant(ops: QOp[], address: (ref: QRef) => number): Int32Array {
  const words: number[] = [];
  const at = (r: QRef): number => {
    const a = address(r);
    if (!Number.isInteger(a) || a < 0 || a >= 2 ** 32) throw new Error(`address of ${r.buf}+${r.off} is ${a}`);
    return a | 0;
  };
  for (const o of ops) {
    const entry = OP_TABLE[o.op];
    const len = typeof entry.words === 'number' ? entry.words : (entry.words as (x: unknown) => number)(o);
    const start = words.length;
    words.push(entry.code, len);
    switch (o.op) {
      case 'qgemm':
        words.push(at(o.c), o.ldc, at(o.a), o.sai, o.sak, o.strideA, at(o.b), o.ldb, o.strideB, o.m, o.n, o.k, o.t, o.h, o.hc, o.ha, o.hb,
          o.aT | (o.bT << 2) | (o.cT << 4), o.shift);
        break;
      case 'qpermute': words.push(at(o.dst), at(o.src), o.dims.length, o.elemBytes, ...o.dims, ...o.strides, ...new Array(o.dims.length).fill(0)); break;
      case 'qbias': words.push(at(o.y), at(o.bias), o.rows, o.cols, o.type); break;
      case 'qrelu': words.push(at(o.y), at(o.x), o.n, o.type); break;
      case 'qlut': words.push(at(o.dst), at(o.src), o.n, at(o.table), o.type); break;
      case 'qaffine': words.push(at(o.dst), at(o.src), at(o.mean), at(o.invStd), o.rows, o.cols, o.type, o.frac); break;
    }
    if (words.length - start !== len) throw new Error(`op ${o.op}: emitted ${words.length - start} words, the table says ${len}`);
  }
  return Int32Array.from(words);
}

export { qBytes };
