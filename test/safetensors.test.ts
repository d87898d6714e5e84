import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { writeFileAtomic } from '../src/io/atomic.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  NamedTensor,
  readSafetensors,
  SafetensorsError,
  writeSafetensors,
} from '../src/io/safetensors.js';

const sample: NamedTensor[] = [
  { name: 'w', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, 1e-7, -0]) },
  { name: 'scale', shape: [], data: new Float32Array([0.25]) },
  { name: 'empty', shape: [0, 4], data: new Float32Array(0) },
  { name: 'core.0', shape: [1, 2, 2, 1], data: new Float32Array([Infinity, -Infinity, 7, 8]) },
];
const sampleMeta = { format: 'btnn', step: '12', note: 'ünïcode ✓' };

// Builds a file from a raw header object and data bytes, padding like the writer.
function rawFile(header: unknown, data: Uint8Array | number[] = []): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  return rawWithHeaderBytes(json, data);
}

function rawWithHeaderBytes(json: Uint8Array, data: Uint8Array | number[] = []): Uint8Array {
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32 = (name: string, shape: number[], offsets: [number, number]) => ({
  [name]: { dtype: 'F32', shape, data_offsets: offsets },
});

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-st-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('round trip keeps names, shapes, values and metadata', async (t) => {
  const bytes = encodeSafetensors(sample, sampleMeta);
  const { tensors, metadata } = decodeSafetensors(bytes, 'mem');
  t.same({ ...metadata }, sampleMeta);
  t.same([...tensors.keys()].sort(), ['core.0', 'empty', 'scale', 'w']);
  for (const s of sample) {
    const got = tensors.get(s.name)!;
    t.equal(got.name, s.name);
    t.same(got.shape, s.shape, `${s.name} shape`);
    t.ok(got.data instanceof Float32Array);
    t.same(Array.from(got.data), Array.from(s.data), `${s.name} data`);
  }
  t.ok(Object.is(tensors.get('w')!.data[5], -0), 'negative zero survives');
});

t.test('layout: header is JSON, data 8-aligned, contiguous in order', async (t) => {
  const bytes = encodeSafetensors(sample, sampleMeta);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  t.equal((8 + n) % 8, 0, 'data start is 8-aligned');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  t.same(header.__metadata__, sampleMeta);
  t.same(header.w, { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
  t.same(header.scale, { dtype: 'F32', shape: [], data_offsets: [24, 28] });
  t.same(header.empty, { dtype: 'F32', shape: [0, 4], data_offsets: [28, 28] });
  t.same(header['core.0'], { dtype: 'F32', shape: [1, 2, 2, 1], data_offsets: [28, 44] });
  t.equal(bytes.length, 8 + n + 44);
  // Little-endian float32 on disk: 3.5 = 0x40600000.
  t.same(Array.from(bytes.subarray(8 + n + 8, 8 + n + 12)), [0x00, 0x00, 0x60, 0x40]);
});

t.test('no metadata and no tensors', async (t) => {
  const bytes = encodeSafetensors([], {});
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  t.same(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), {});
  const { tensors, metadata } = decodeSafetensors(bytes, 'mem');
  t.equal(tensors.size, 0);
  t.same({ ...metadata }, {});
});

t.test('reads files with an unaligned data start', async (t) => {
  // Header length 7 + 8 = 15: data starts at an odd offset.
  const data = new Uint8Array(new Float32Array([1.5, -2]).buffer);
  const header = new TextEncoder().encode(JSON.stringify(f32('v', [2], [0, 8])) + ' ');
  const bytes = rawWithHeaderBytes(header, data);
  t.equal((8 + header.length) % 4 === 0, false, 'fixture is unaligned');
  t.same(Array.from(decodeSafetensors(bytes, 'odd').tensors.get('v')!.data), [1.5, -2]);
});

t.test('writer rejects invalid tensors', async (t) => {
  const one = new Float32Array(1);
  t.throws(
    () => encodeSafetensors([{ name: 'a', shape: [1], data: one }, { name: 'a', shape: [1], data: one }], {}),
    /tensors\[1\] "a": duplicate name/,
  );
  t.throws(() => encodeSafetensors([{ name: 'a', shape: [2], data: one }], {}), /tensors\[0\] "a": data has 1 floats, shape \[2\] needs 2/);
  t.throws(() => encodeSafetensors([{ name: 'a', shape: [-1], data: one }], {}), /shape = \[-1\]: must be non-negative integers/);
  t.throws(() => encodeSafetensors([{ name: '__metadata__', shape: [1], data: one }], {}), /"__metadata__" is reserved/);
  t.throws(() => encodeSafetensors([], { step: 3 as unknown as string }), /metadata\["step"\] = 3: metadata values must be strings/);
});

t.test('reader rejects every corruption with the field named', async (t) => {
  const four = [0, 0, 128, 63]; // 1.0f
  const cases: [string, Uint8Array, RegExp][] = [
    ['short file', new Uint8Array(5), /^bad: file is 5 bytes, shorter than the 8-byte header length/],
    ['header longer than file', (() => {
      const b = rawFile({});
      new DataView(b.buffer).setBigUint64(0, 50n, true);
      return b;
    })(), /^bad: header length = 50: larger than the 2 bytes after the length field/],
    ['huge header length', (() => {
      const b = rawFile({});
      new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true);
      return b;
    })(), /^bad: header length = 1099511627776: exceeds the 100000000-byte limit/],
    ['invalid UTF-8', rawWithHeaderBytes(new Uint8Array([0x7b, 0xff, 0x7d])), /^bad: header is not valid UTF-8/],
    ['invalid JSON', rawWithHeaderBytes(new TextEncoder().encode('{"a":')), /^bad: header is not valid JSON/],
    ['header array', rawFile([1, 2]), /^bad: header = \[1,2\]: must be a JSON object/],
    ['header null', rawFile(null), /^bad: header = null: must be a JSON object/],
    ['metadata not object', rawFile({ __metadata__: 'x' }), /^bad: __metadata__ = "x": must be an object of strings/],
    ['metadata value not string', rawFile({ __metadata__: { step: 3 } }), /^bad: __metadata__\["step"\] = 3: metadata values must be strings/],
    ['tensor not object', rawFile({ w: 5 }), /^bad: tensor "w" = 5: must be an object/],
    ['dtype F16', rawFile({ w: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, four),
      /^bad: tensor "w"\.dtype = "F16": not supported; only "F32"/],
    ['dtype missing', rawFile({ w: { shape: [1], data_offsets: [0, 4] } }, four), /^bad: tensor "w"\.dtype = undefined/],
    ['shape not array', rawFile({ w: { dtype: 'F32', shape: 1, data_offsets: [0, 4] } }, four),
      /^bad: tensor "w"\.shape = 1: must be an array of non-negative integers/],
    ['shape negative', rawFile(f32('w', [-1], [0, 4]), four), /^bad: tensor "w"\.shape = \[-1\]/],
    ['shape fractional', rawFile(f32('w', [1.5], [0, 4]), four), /^bad: tensor "w"\.shape = \[1\.5\]/],
    ['offsets not two', rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, four),
      /^bad: tensor "w"\.data_offsets = \[0\]: must be two non-negative integers/],
    ['offsets not integers', rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: ['0', 4] } }, four),
      /^bad: tensor "w"\.data_offsets = \["0",4\]/],
    ['begin > end', rawFile(f32('w', [1], [4, 0]), four), /^bad: tensor "w"\.data_offsets = \[4,0\]: .*begin <= end/],
    ['end beyond buffer', rawFile(f32('w', [2], [0, 8]), four),
      /^bad: tensor "w"\.data_offsets = \[0, 8\]: end beyond the 4-byte data buffer/],
    ['length vs shape', rawFile(f32('w', [2], [0, 4]), four),
      /^bad: tensor "w"\.data_offsets = \[0, 4\]: spans 4 bytes, shape \[2\] of F32 needs 8/],
    ['overlap', rawFile({ ...f32('a', [2], [0, 8]), ...f32('b', [1], [4, 8]) }, [...four, ...four]),
      /^bad: tensor "b"\.data_offsets = \[4, 8\]: overlaps tensor "a" \(ends at 8\)/],
    ['gap', rawFile({ ...f32('a', [1], [0, 4]), ...f32('b', [1], [8, 12]) }, [...four, ...four, ...four]),
      /^bad: tensor "b"\.data_offsets = \[8, 12\]: leaves unused bytes \[4, 8\)/],
    ['trailing bytes', rawFile(f32('a', [1], [0, 4]), [...four, 1, 2]),
      /^bad: data buffer has 2 trailing bytes \[4, 6\) not used by any tensor/],
  ];
  for (const [label, bytes, pattern] of cases) {
    t.throws(() => decodeSafetensors(bytes, 'bad'), pattern, label);
    t.throws(() => decodeSafetensors(bytes, 'bad'), SafetensorsError, `${label}: SafetensorsError`);
  }
});

t.test('write/read files atomically', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'nested', 'model.safetensors');
  writeSafetensors(path, sample, sampleMeta);
  const { tensors, metadata } = readSafetensors(path);
  t.same({ ...metadata }, sampleMeta);
  t.same(Array.from(tensors.get('w')!.data), Array.from(sample[0].data));
  t.same(readdirSync(join(dir, 'nested')), ['model.safetensors'], 'no temp files left');
  t.throws(() => readSafetensors(join(dir, 'missing.safetensors')), /ENOENT/);
});

t.test('failed write leaves the existing target untouched', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'model.safetensors');
  writeSafetensors(path, sample, sampleMeta);
  const before = readFileSync(path);
  t.throws(
    () => writeSafetensors(path, [{ name: 'bad', shape: [3], data: new Float32Array(2) }], {}),
    /tensors\[0\] "bad": data has 2 floats/,
  );
  t.same(readFileSync(path), before, 'target unchanged');
  t.same(readdirSync(dir), ['model.safetensors'], 'no temp files left');
});

t.test('writeFileAtomic removes its temp file when the rename fails', async (t) => {
  const dir = tmp(t);
  // A non-empty directory as the target makes the final rename fail after the temp
  // file was written and fsynced.
  const target = join(dir, 'target');
  mkdirSync(target);
  writeFileSync(join(target, 'keep'), 'old');
  t.throws(() => writeFileAtomic(target, 'new'), { code: /EISDIR|ENOTEMPTY|EEXIST|EPERM/ });
  t.same(readdirSync(dir), ['target'], 'no temp files left');
  t.equal(readFileSync(join(target, 'keep'), 'utf8'), 'old');
});

t.test('writeFileAtomic replaces content and accepts strings', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'a.txt');
  writeFileAtomic(path, 'first');
  writeFileAtomic(path, new Uint8Array([104, 105]));
  t.equal(readFileSync(path, 'utf8'), 'hi');
  t.same(readdirSync(dir), ['a.txt']);
});
