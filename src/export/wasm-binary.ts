// Just enough of the WebAssembly binary format to turn the template module into a model: set the
// memory's limits (min = max: a fixed arena, nothing to grow into), append active data segments
// (updating the data count section when the template has one) and a custom section. Sections are
// copied byte for byte otherwise, so the template's code is exactly what ran in the tests.
const MAGIC = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const SECTION = { custom: 0, memory: 5, code: 10, data: 11, dataCount: 12 } as const;

export interface DataSegment { offset: number; bytes: Uint8Array }

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function sleb32(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}

function readUleb(buf: Uint8Array, at: number): [number, number] {
  let v = 0, mul = 1, p = at;
  for (;;) {
    if (p >= buf.length) throw new Error('wasm template: truncated LEB128');
    const b = buf[p++];
    v += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [v, p];
    mul *= 128;
  }
}

interface Section { id: number; payload: Uint8Array }

function sections(wasm: Uint8Array): Section[] {
  if (!MAGIC.every((b, i) => wasm[i] === b)) throw new Error('wasm template: not a WebAssembly 1.0 module');
  const out: Section[] = [];
  let p = 8;
  while (p < wasm.length) {
    const id = wasm[p];
    const [size, q] = readUleb(wasm, p + 1);
    out.push({ id, payload: wasm.subarray(q, q + size) });
    p = q + size;
  }
  return out;
}

const concat = (parts: (Uint8Array | number[])[]): Uint8Array => {
  const n = parts.reduce((s, x) => s + x.length, 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const x of parts) { out.set(x, at); at += x.length; }
  return out;
};

const section = (id: number, payload: Uint8Array): Uint8Array => concat([[id], uleb(payload.length), payload]);

/** Counts of the data and memory entries in a payload's leading vector. */
const vecCount = (payload: Uint8Array): [number, number] => readUleb(payload, 0);

export interface ModuleEdit {
  /** Linear memory in 64 KiB pages: the module's minimum and maximum both. */
  pages: number;
  segments: DataSegment[];
  /** Custom sections appended at the end (e.g. the model's description). */
  custom?: { name: string; bytes: Uint8Array }[];
}

export function editModule(template: Uint8Array, edit: ModuleEdit): Uint8Array {
  const secs = sections(template);
  const mem = secs.find((s) => s.id === SECTION.memory);
  if (!mem || vecCount(mem.payload)[0] !== 1) throw new Error('wasm template: expected one memory');
  const newSegments = edit.segments.map((s) => concat([[0x00, 0x41], sleb32(s.offset), [0x0b], uleb(s.bytes.length), s.bytes]));
  const out: Uint8Array[] = [template.subarray(0, 8)];
  const hasData = secs.some((x) => x.id === SECTION.data);
  for (const s of secs) {
    if (s.id === SECTION.memory) {
      out.push(section(SECTION.memory, concat([[1, 0x01], uleb(edit.pages), uleb(edit.pages)])));
    } else if (s.id === SECTION.dataCount) {
      out.push(section(SECTION.dataCount, new Uint8Array(uleb(vecCount(s.payload)[0] + edit.segments.length))));
    } else if (s.id === SECTION.data) {
      const [n, at] = vecCount(s.payload);
      out.push(section(SECTION.data, concat([uleb(n + edit.segments.length), s.payload.subarray(at), ...newSegments])));
    } else {
      out.push(section(s.id, s.payload));
      // No data section in the template: ours goes right after the code, where the format wants it.
      if (s.id === SECTION.code && !hasData) out.push(section(SECTION.data, concat([uleb(edit.segments.length), ...newSegments])));
    }
  }
  for (const c of edit.custom ?? []) {
    const name = new TextEncoder().encode(c.name);
    out.push(section(SECTION.custom, concat([uleb(name.length), name, c.bytes])));
  }
  return concat(out);
}

/** A custom section's bytes by name (null: none). */
export function customSection(wasm: Uint8Array, name: string): Uint8Array | null {
  for (const s of sections(wasm)) {
    if (s.id !== SECTION.custom) continue;
    const [n, at] = readUleb(s.payload, 0);
    if (new TextDecoder().decode(s.payload.subarray(at, at + n)) === name) return s.payload.subarray(at + n);
  }
  return null;
}
