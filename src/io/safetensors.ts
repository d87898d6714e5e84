// safetensors reader/writer, F32 only (the dtype btnn checkpoints use).
//
// Layout:
//   [0, 8)        N: u64 little-endian, header length in bytes
//   [8, 8 + N)    UTF-8 JSON object: name -> {dtype, shape, data_offsets: [begin, end]},
//                 plus an optional "__metadata__": {string: string}
//   [8 + N, EOF)  data buffer; offsets are relative to its start
// The writer pads the header with spaces so the data starts 8-byte aligned and lays
// tensors out contiguously in the given order. The reader trusts nothing: checkpoints
// come from disk, other tools and interrupted runs, so every field is checked and the
// data buffer must be exactly covered by the tensors (as the format requires).

import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { showValue } from '../util/show.js';

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

const kMetadataKey = '__metadata__';
const kDtype = 'F32';
const kBytesPerElement = 4;
const kDataAlign = 8;
// Same cap as the reference implementation; guards against allocating for a bogus length.
const kMaxHeaderBytes = 100_000_000;
const kLittleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// Bounded and never throwing: a header nested 100 000 deep must give this reader's error, not a stack overflow.
const show = (value: unknown): string => showValue(value, 80);

// Float32 <-> little-endian bytes. On little-endian hosts (all practical ones) a byte copy,
// which also keeps NaN payloads; the DataView path keeps big-endian hosts correct.
function f32ToBytes(src: Float32Array, out: Uint8Array, offset: number): void {
  if (kLittleEndianHost) {
    out.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), offset);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + offset, src.byteLength);
  for (let i = 0; i < src.length; i++) view.setFloat32(i * kBytesPerElement, src[i], true);
}

function bytesToF32(src: Uint8Array): Float32Array {
  // slice copies into a fresh, aligned buffer: the source offset may be unaligned.
  if (kLittleEndianHost) return new Float32Array(src.slice().buffer);
  const out = new Float32Array(src.length / kBytesPerElement);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * kBytesPerElement, true);
  return out;
}

export function encodeSafetensors(
  tensors: NamedTensor[],
  metadata: Record<string, string>,
): Uint8Array {
  // Null prototype: a tensor named "__proto__" must become a key, not the prototype.
  const header: Record<string, unknown> = Object.create(null);
  const meta: Record<string, string> = Object.create(null);
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw new SafetensorsError(
        `metadata[${show(key)}] = ${show(value)}: metadata values must be strings (use JSON.stringify)`,
      );
    }
    meta[key] = value;
  }
  if (Object.keys(meta).length > 0) header[kMetadataKey] = meta;

  let dataBytes = 0;
  tensors.forEach((t, i) => {
    const where = `tensors[${i}] ${show(t.name)}`;
    if (typeof t.name !== 'string' || t.name === kMetadataKey) {
      throw new SafetensorsError(`${where}: invalid name; "${kMetadataKey}" is reserved, rename the tensor`);
    }
    if (Object.prototype.hasOwnProperty.call(header, t.name)) {
      throw new SafetensorsError(`${where}: duplicate name; tensor names must be unique`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every(isIndex)) {
      throw new SafetensorsError(`${where}: shape = ${show(t.shape)}: must be non-negative integers`);
    }
    if (!(t.data instanceof Float32Array) || t.data.length !== product(t.shape)) {
      const got = t.data instanceof Float32Array ? `${t.data.length} floats` : 'not a Float32Array';
      throw new SafetensorsError(
        `${where}: data has ${got}, shape [${t.shape.join(', ')}] needs ${product(t.shape)}`,
      );
    }
    const begin = dataBytes;
    dataBytes += t.data.byteLength;
    header[t.name] = { dtype: kDtype, shape: t.shape, data_offsets: [begin, dataBytes] };
  });

  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = Math.ceil((8 + json.length) / kDataAlign) * kDataAlign - 8;
  const out = new Uint8Array(8 + headerBytes + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerBytes); // space padding is valid JSON whitespace
  let offset = 8 + headerBytes;
  for (const t of tensors) {
    f32ToBytes(t.data, out, offset);
    offset += t.data.byteLength;
  }
  return out;
}

export function decodeSafetensors(
  bytes: Uint8Array,
  source: string,
): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const fail = (message: string): never => {
    throw new SafetensorsError(`${source}: ${message}`);
  };
  if (bytes.length < 8) {
    fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length; the file is truncated`);
  }
  const lengthField = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (lengthField > BigInt(kMaxHeaderBytes)) {
    fail(`header length = ${lengthField}: exceeds the ${kMaxHeaderBytes}-byte limit; not a safetensors file?`);
  }
  const headerBytes = Number(lengthField);
  if (8 + headerBytes > bytes.length) {
    fail(`header length = ${headerBytes}: larger than the ${bytes.length - 8} bytes after the length field; the file is truncated`);
  }

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerBytes));
  } catch {
    return fail(`header is not valid UTF-8; the file is corrupt or not safetensors`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`header is not valid JSON (${(err as Error).message}); the file is corrupt or not safetensors`);
  }
  if (!isObject(header)) {
    return fail(`header = ${show(header)}: must be a JSON object`);
  }

  // Null prototype so a "__proto__" key is kept as data (same reason as in the writer).
  const metadata: Record<string, string> = Object.create(null);
  const rawMeta = header[kMetadataKey];
  if (rawMeta !== undefined) {
    if (!isObject(rawMeta)) fail(`${kMetadataKey} = ${show(rawMeta)}: must be an object of strings`);
    for (const [key, value] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof value !== 'string') {
        fail(`${kMetadataKey}[${show(key)}] = ${show(value)}: metadata values must be strings`);
      }
      metadata[key] = value as string;
    }
  }

  const dataStart = 8 + headerBytes;
  const dataBytes = bytes.length - dataStart;
  const entries: { name: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === kMetadataKey) continue;
    const at = `tensor ${show(name)}`;
    if (!isObject(info)) fail(`${at} = ${show(info)}: must be an object {dtype, shape, data_offsets}`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (dtype !== kDtype) {
      fail(`${at}.dtype = ${show(dtype)}: not supported; only "${kDtype}" (float32) is, re-save the tensor as float32`);
    }
    if (!Array.isArray(shape) || !shape.every(isIndex)) {
      fail(`${at}.shape = ${show(shape)}: must be an array of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0] > offsets[1]) {
      fail(`${at}.data_offsets = ${show(offsets)}: must be two non-negative integers [begin, end] with begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataBytes) {
      fail(`${at}.data_offsets = [${begin}, ${end}]: end beyond the ${dataBytes}-byte data buffer; the file is truncated`);
    }
    const expected = product(shape as number[]) * kBytesPerElement;
    if (end - begin !== expected) {
      fail(
        `${at}.data_offsets = [${begin}, ${end}]: spans ${end - begin} bytes, ` +
          `shape ${show(shape)} of ${kDtype} needs ${expected}`,
      );
    }
    entries.push({ name, shape: shape as number[], begin, end });
  }

  // The data buffer must be covered exactly: walk tensors in offset order.
  const ordered = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous = '';
  for (const e of ordered) {
    if (e.begin < cursor) {
      fail(`tensor ${show(e.name)}.data_offsets = [${e.begin}, ${e.end}]: overlaps tensor ${show(previous)} (ends at ${cursor})`);
    }
    if (e.begin > cursor) {
      fail(`tensor ${show(e.name)}.data_offsets = [${e.begin}, ${e.end}]: leaves unused bytes [${cursor}, ${e.begin}) in the data buffer; the buffer must be fully indexed`);
    }
    cursor = e.end;
    previous = e.name;
  }
  if (cursor !== dataBytes) {
    fail(`data buffer has ${dataBytes - cursor} trailing bytes [${cursor}, ${dataBytes}) not used by any tensor; the buffer must be fully indexed`);
  }

  const tensors = new Map<string, NamedTensor>();
  for (const e of entries) {
    const data = bytesToF32(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors.set(e.name, { name: e.name, shape: [...e.shape], data });
  }
  return { tensors, metadata };
}

export function writeSafetensors(
  path: string,
  tensors: NamedTensor[],
  metadata: Record<string, string> = {},
): void {
  // Encode first: an invalid tensor fails before any file is touched.
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export function readSafetensors(
  path: string,
): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const buf = readFileSync(path);
  return decodeSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}
