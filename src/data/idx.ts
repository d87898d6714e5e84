// IDX reader (the MNIST file format), written here so btnn needs no parser dependency.
//
// Layout, all integers big-endian:
//   byte 0..1  zero
//   byte 2     element type (0x08 = unsigned byte; the only type MNIST uses and the only
//              one we accept)
//   byte 3     number of dims d (we accept 1..4)
//   then d u32 dims, then prod(dims) elements, nothing after.
// Every check names the file, the bad value and the likely fix, because the common
// failures are user mistakes: a still-gzipped download, a truncated copy, a wrong file.

import { readFileSync } from 'node:fs';

export interface IdxArray {
  dims: number[];
  /** Row-major elements; a view into the file bytes, not a copy. */
  data: Uint8Array;
}

export class IdxError extends Error {
  override name = 'IdxError';
}

const kTypeUnsignedByte = 0x08;
const kMaxDims = 4;

// Names of the other IDX element types, so a rejection says what the file holds.
const kTypeNames: Record<number, string> = {
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

function hex(value: number, digits: number): string {
  return '0x' + value.toString(16).padStart(digits, '0');
}

export function parseIdx(bytes: Uint8Array, source: string): IdxArray {
  if (bytes.length < 4) {
    throw new IdxError(
      `${source}: file is ${bytes.length} bytes, shorter than the 4-byte IDX magic; ` +
        `the file is empty or truncated, download it again`,
    );
  }
  // gzip starts with 1f 8b: the MNIST downloads are .gz and easy to forget to unpack.
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw new IdxError(
      `${source}: file is gzip-compressed (starts with 0x1f8b); gunzip it first ` +
        `(e.g. \`gunzip ${source}\`) and load the uncompressed IDX file`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new IdxError(
      `${source}: wrong magic ${hex(magic, 8)}, expected 0x00000803 or 0x00000801 ` +
        `(IDX unsigned-byte file); is this an MNIST IDX file (not gzipped)?`,
    );
  }
  const type = bytes[2];
  if (type !== kTypeUnsignedByte) {
    const kind = kTypeNames[type] ?? 'unknown type';
    throw new IdxError(
      `${source}: IDX element type ${hex(type, 2)} (${kind}) not supported; only ` +
        `${hex(kTypeUnsignedByte, 2)} (unsigned byte) is, convert the file to unsigned bytes`,
    );
  }
  const ndims = bytes[3];
  if (ndims < 1 || ndims > kMaxDims) {
    throw new IdxError(
      `${source}: number of dims = ${ndims}, must be 1..${kMaxDims}; ` +
        `the header (magic ${hex(magic, 8)}) is corrupt or not an IDX file`,
    );
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new IdxError(
      `${source}: header truncated: ${ndims} dims need ${headerBytes} header bytes, ` +
        `file has ${bytes.length}; download the file again`,
    );
  }
  const dims: number[] = [];
  // Plain doubles are exact here: the product is only compared against the file length,
  // and any product too large to be exact is also far larger than any file.
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const actual = bytes.length - headerBytes;
  if (actual < count) {
    throw new IdxError(
      `${source}: data truncated: dims [${dims.join(', ')}] expected ${count} data bytes ` +
        `after the ${headerBytes}-byte header, actual ${actual}; download the file again`,
    );
  }
  if (actual > count) {
    throw new IdxError(
      `${source}: ${actual - count} trailing bytes: dims [${dims.join(', ')}] expected ` +
        `${count} data bytes after the ${headerBytes}-byte header, actual ${actual}; ` +
        `the file is corrupt or was concatenated with another`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

export function readIdxFile(path: string): IdxArray {
  const buf = readFileSync(path);
  // A plain Uint8Array view, so callers never see Buffer-specific behaviour.
  return parseIdx(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}
