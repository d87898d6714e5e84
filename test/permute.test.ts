// PERMUTE (assembly/permute.ts) against a JS reference, bit for bit, on every flavour: random
// ranks, dims and source layouts, so the copy, 4×4-transpose and strided paths all run with
// their tails (dims not a multiple of 4), rank 1, size-1 axes and negative strides.
import t from 'tap';
import { loadCore, FLAVOURS } from '../src/core/wasm.js';
import { link, type Op } from '../src/tn/compile.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

interface Case { dims: number[]; strides: number[]; srcFloats: number; srcStart: number }

/**
 * A source tensor stored row-major in a random axis order (optionally one axis reversed, read
 * from its far end with a negative stride), read back in another random order.
 */
function randomCase(r: () => number): Case {
  const rank = 1 + Math.floor(r() * 6);
  const pick = [1, 2, 3, 4, 4, 5, 7, 8, 8, 9, 12, 16];
  const dims = Array.from({ length: rank }, () => pick[Math.floor(r() * pick.length)]);
  const layout = [...dims.keys()].sort(() => r() - 0.5);
  const rowMajor = new Array<number>(rank);
  let acc = 1;
  for (let i = rank - 1; i >= 0; i--) { rowMajor[layout[i]] = acc; acc *= dims[layout[i]]; }
  const to = [...dims.keys()].sort(() => r() - 0.5);
  const strides = to.map((a) => rowMajor[a]);
  let srcStart = 0;
  if (r() < 0.25) { // one axis read backwards
    const j = Math.floor(r() * rank);
    srcStart += (dims[to[j]] - 1) * strides[j];
    strides[j] = -strides[j];
  }
  return { dims: to.map((a) => dims[a]), strides, srcFloats: acc, srcStart };
}

function reference(c: Case, src: Uint32Array): Uint32Array {
  const n = c.dims.reduce((a, b) => a * b, 1);
  const out = new Uint32Array(n);
  const idx = new Array<number>(c.dims.length).fill(0);
  for (let o = 0; o < n; o++) {
    let s = c.srcStart;
    for (let j = 0; j < idx.length; j++) s += idx[j] * c.strides[j];
    out[o] = src[s];
    for (let j = idx.length - 1; j >= 0; j--) { if (++idx[j] < c.dims[j]) break; idx[j] = 0; }
  }
  return out;
}

const fixed: Case[] = [
  // The default TTM's rebuild and dW permutes (the shapes this kernel was written for).
  { dims: [2, 4, 7, 4, 4, 4, 8, 4], strides: [57344, 3584, 128, 4, 14336, 896, 16, 1] },
  { dims: [7, 8, 4, 4, 2, 4, 4, 4], strides: [2048, 4, 512, 1, 57344, 14336, 128, 32] },
  { dims: [5, 7], strides: [1, 5] }, // transpose with tails on both axes
  { dims: [3], strides: [1] },
  { dims: [6, 1, 9], strides: [1, 54, 6] },
].map((c) => ({ ...c, srcFloats: c.dims.reduce((a, b) => a * b, 1), srcStart: 0 }));

for (const flavour of FLAVOURS) {
  t.test(`${flavour}: permute equals the reference bit for bit`, async (t) => {
    const core = await loadCore(flavour);
    const r = lcg(0x9e3779b9);
    const cases = [...fixed, ...Array.from({ length: 300 }, () => randomCase(r))];
    let bad = 0;
    for (const c of cases) {
      const n = c.dims.reduce((a, b) => a * b, 1);
      const base = Math.ceil(core.exports.heapBase() / 16) * 16;
      const srcAt = base + 64, dstAt = srcAt + Math.ceil((c.srcFloats * 4) / 16) * 16 + 16, progAt = dstAt + n * 4 + 64;
      const ops: Op[] = [{ op: 'permute', dst: { buf: 'dst', off: 0 }, src: { buf: 'src', off: c.srcStart }, dims: c.dims, strides: c.strides }];
      const words = link(ops, (buf) => (buf === 'dst' ? dstAt : srcAt));
      const need = progAt + words.length * 4;
      if (need > core.memory.buffer.byteLength) core.memory.grow(Math.ceil((need - core.memory.buffer.byteLength) / 65536));
      const src = new Uint32Array(core.memory.buffer, srcAt, c.srcFloats);
      for (let i = 0; i < src.length; i++) src[i] = (Math.floor(r() * 2 ** 32) & 0xff7fffff) >>> 0; // no NaN payloads
      new Uint32Array(core.memory.buffer, dstAt, n).fill(0xdeadbeef);
      new Int32Array(core.memory.buffer, progAt, words.length).set(words);
      core.exports.tnRun(progAt, words.length);
      const got = new Uint32Array(core.memory.buffer, dstAt, n);
      const want = reference(c, src);
      const first = want.findIndex((v, i) => v !== got[i]);
      if (first >= 0 && bad++ < 5) t.fail(`dims [${c.dims}] strides [${c.strides}]: element ${first} is ${got[first]}, want ${want[first]}`);
    }
    t.equal(bad, 0, `${cases.length} permutes`);
  });
}
