// model.h + model.c: the model image as portable C99. The weights and input tables are one const
// array (flash), written as hex float literals (exact); the mutable buffers are one static arena
// at the offsets of the wasm module's plan; the forward program becomes straight-line calls to the
// kernels in c/kernels.c, each the C twin of a core op. No allocation, no libm, no globals but
// these two arrays.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Op, Ref } from '../tn/compile.js';
import type { QOp, QRef } from '../quant/lower.js';
import type { ModelImage } from '../image/image.js';
import type { TestVectors } from './module.js';
import { ExportError } from '../image/image.js';

const here = dirname(fileURLToPath(import.meta.url));

function kernelsSource(): string {
  for (const p of [join(here, 'c', 'kernels.c'), join(here, '..', '..', '..', '..', 'src', 'export', 'c', 'kernels.c')]) {
    if (existsSync(p)) return readFileSync(p, 'utf8');
  }
  throw new Error('src/export/c/kernels.c not found beside the btnn package');
}

const f32Bits = new Float32Array(1), u32Bits = new Uint32Array(f32Bits.buffer);

/** An f32 as an exact C99 hex float literal. */
export function hexFloat(x: number): string {
  f32Bits[0] = x;
  const bits = u32Bits[0];
  const sign = bits >>> 31 ? '-' : '';
  const exp = (bits >>> 23) & 0xff, man = bits & 0x7fffff;
  if (exp === 0xff) throw new ExportError(`weight ${x} is not finite: cannot export it`);
  const digits = (man << 1).toString(16).padStart(6, '0');
  if (exp === 0) return man === 0 ? `${sign}0x0p+0f` : `${sign}0x0.${digits}p-126f`;
  const e = exp - 127;
  return `${sign}0x1.${digits}p${e >= 0 ? '+' : ''}${e}f`;
}

function wrap(items: string[], perLine: number): string {
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += perLine) lines.push('  ' + items.slice(i, i + perLine).join(', '));
  return lines.join(',\n');
}

const C_TYPE = { u8: 'unsigned char', f32: 'float', i32: 'int32_t' } as const;

const C_ELEM = { i8: 'signed char', i16: 'int16_t', i32: 'int32_t', f32: 'float' } as const;
const Q_NAMES = ['int8', 'int16', 'int32'];

/** The f32 program's calls: operands are float pointers into the const array or the arena. */
function f32Calls(image: ModelImage, arenaOf: (addr: number) => number, kernels: Set<string>, tables: string[]): { consts: string; calls: string[] } {
  const ptr = (ref: Ref, type: 'float' | 'u8' = 'float'): string => {
    const addr = image.address(ref);
    if (addr >= image.weightsAt && addr < image.programAt) {
      if (type === 'u8') throw new Error('export C: a byte operand in the weights');
      return `btnn_const + ${(addr - image.weightsAt) / 4}`;
    }
    const off = arenaOf(addr);
    if (type === 'u8') return `(const unsigned char *)btnn_arena + ${off}`;
    if (off % 4) throw new Error(`export C: float operand at arena byte ${off}`);
    return `btnn_arena_f32 + ${off / 4}`;
  };
  const calls = image.ops.map((op: Op): string => {
    kernels.add(op.op === 'act' ? 'RELU' : op.op.toUpperCase());
    switch (op.op) {
      case 'gemm': return `btnn_gemm(${ptr(op.c)}, ${op.ldc}, ${ptr(op.a)}, ${op.sai}, ${op.sak}, ${op.strideA}, ${ptr(op.b)}, ${op.ldb}, ${op.strideB}, ${op.m}, ${op.n}, ${op.k}, ${op.t}, ${op.acc ? 1 : 0}, ${op.h}, ${op.hc}, ${op.ha}, ${op.hb});`;
      case 'permute': {
        if (op.dims.length > 16) throw new ExportError(`a permute of rank ${op.dims.length}: the C kernels handle rank 16 at most`);
        const name = `btnn_perm${tables.length}`;
        tables.push(`static const int ${name}[] = { ${[...op.dims, ...op.strides].join(', ')} };`);
        return `btnn_permute((unsigned char *)(${ptr(op.dst)}), (const unsigned char *)(${ptr(op.src)}), ${op.dims.length}, 4, ${name});`;
      }
      case 'zero': return `btnn_zero(${ptr(op.dst)}, ${op.n});`;
      case 'add': return `btnn_add(${ptr(op.dst)}, ${ptr(op.src)}, ${op.n});`;
      case 'bias': return `btnn_bias(${ptr(op.y)}, ${ptr(op.bias)}, ${op.rows}, ${op.cols});`;
      case 'act':
        if (op.fn !== 'relu') throw new ExportError(`a ${op.fn} activation: the C export has relu only so far (sigmoid and tanh need the core's own expf to match bit for bit); use --target wasm`);
        return `btnn_relu(${ptr(op.y)}, ${ptr(op.x)}, ${op.n});`;
      case 'copy2d': return `btnn_copy2d(${ptr(op.dst)}, ${op.ldDst}, ${ptr(op.src)}, ${op.ldSrc}, ${op.rows}, ${op.cols}, ${op.acc ? 1 : 0});`;
      case 'interact': return `btnn_interact(${ptr(op.z)}, ${ptr(op.t)}, ${op.rows}, ${op.k}, ${op.d});`;
      case 'scale': return `btnn_scale(${ptr(op.y)}, ${op.n}, ${hexFloat(op.alpha)});`;
      case 'lut': return `btnn_lut(${ptr(op.dst)}, ${ptr(op.src, 'u8')}, ${op.n}, ${ptr(op.table)});`;
      case 'affine': return `btnn_affine(${ptr(op.dst)}, ${ptr(op.src)}, ${ptr(op.mean)}, ${ptr(op.invStd)}, ${op.rows}, ${op.cols});`;
      default: throw new ExportError(`op ${op.op} has no C kernel: this model cannot be exported to C yet`);
    }
  });
  const constFloats = image.constBytes.length / 4;
  const values = new Float32Array(image.constBytes.buffer, image.constBytes.byteOffset, constFloats);
  const consts = `/* Weights (the tensor factors, in their format) and input tables: constant, for flash. */
static const float btnn_const[${Math.max(1, constFloats)}] = {
${constFloats ? wrap(Array.from(values, hexFloat), 6) : '  0'}
};`;
  return { consts, calls };
}

/** The integer program's calls: byte pointers (loads through memcpy), typed pointers for biases and tables. */
function intCalls(image: ModelImage, arenaOf: (addr: number) => number, kernels: Set<string>, tables: string[]): { consts: string; calls: string[] } {
  const qc = image.qconsts!;
  const where = (addr: number): { i: number; at: number; elem: string } | null => {
    const i = qc.findIndex((c) => addr >= c.at && addr < c.at + c.bytes.length);
    return i < 0 ? null : { i, at: qc[i].at, elem: qc[i].elem };
  };
  const bytes = (ref: QRef, write = false): string => {
    const addr = image.qaddress!(ref), c = where(addr);
    if (c) {
      if (write) throw new Error('export C: a write into the constants');
      return `(const unsigned char *)btnn_q${c.i} + ${addr - c.at}`;
    }
    return `(unsigned char *)btnn_arena + ${arenaOf(addr)}`;
  };
  const typed = (ref: QRef): string => {
    const addr = image.qaddress!(ref), c = where(addr);
    if (!c) throw new Error('export C: a table outside the constants');
    return `btnn_q${c.i} + ${(addr - c.at) / 4}`;
  };
  const calls = image.qops!.map((op: QOp): string => {
    kernels.add(op.op === 'qpermute' ? 'PERMUTE' : op.op.toUpperCase());
    switch (op.op) {
      case 'qgemm': return `btnn_qgemm(${bytes(op.c, true)}, ${op.ldc}, ${bytes(op.a)}, ${op.sai}, ${op.sak}, ${op.strideA}, ${bytes(op.b)}, ${op.ldb}, ${op.strideB}, ${op.m}, ${op.n}, ${op.k}, ${op.t}, ${op.h}, ${op.hc}, ${op.ha}, ${op.hb}, ${op.aT | (op.bT << 2) | (op.cT << 4)}, ${op.shift}); /* ${Q_NAMES[op.aT]} x ${Q_NAMES[op.bT]} -> ${Q_NAMES[op.cT]} */`;
      case 'qpermute': {
        if (op.dims.length > 16) throw new ExportError(`a permute of rank ${op.dims.length}: the C kernels handle rank 16 at most`);
        const name = `btnn_perm${tables.length}`;
        tables.push(`static const int ${name}[] = { ${[...op.dims, ...op.strides].join(', ')} };`);
        return `btnn_permute(${bytes(op.dst, true)}, ${bytes(op.src)}, ${op.dims.length}, ${op.elemBytes}, ${name});`;
      }
      case 'qbias': return `btnn_qbias(${bytes(op.y, true)}, ${typed(op.bias)}, ${op.rows}, ${op.cols}, ${op.type});`;
      case 'qrelu': return `btnn_qrelu(${bytes(op.y, true)}, ${bytes(op.x)}, ${op.n}, ${op.type});`;
      case 'qlut': return `btnn_qlut(${bytes(op.dst, true)}, ${bytes(op.src)}, ${op.n}, ${typed(op.table)}, ${op.type});`;
      case 'qaffine': return `btnn_qaffine(${bytes(op.dst, true)}, ${bytes(op.src)}, ${typed(op.mean)}, ${typed(op.invStd)}, ${op.rows}, ${op.cols}, ${op.type}, ${op.frac});`;
    }
  });
  const arrays = qc.map((c, i) => {
    const n = c.bytes.length / (c.elem === 'i8' ? 1 : c.elem === 'i16' ? 2 : 4);
    const view = c.elem === 'i8' ? new Int8Array(c.bytes.buffer, c.bytes.byteOffset, n) : c.elem === 'i16' ? new Int16Array(c.bytes.buffer, c.bytes.byteOffset, n)
      : c.elem === 'i32' ? new Int32Array(c.bytes.buffer, c.bytes.byteOffset, n) : new Float32Array(c.bytes.buffer, c.bytes.byteOffset, n);
    const items = c.elem === 'f32' ? Array.from(view, hexFloat) : Array.from(view, (v) => (v === -2147483648 ? '(-2147483647 - 1)' : String(v)));
    return `static const ${C_ELEM[c.elem]} btnn_q${i}[${Math.max(1, n)}] = {\n${n ? wrap(items, c.elem === 'f32' ? 6 : 16) : '  0'}\n};`;
  });
  return { consts: `/* Constants, for flash: the weights (${image.bits}-bit factors, in their tensor format), int32 biases, input tables. */\n${arrays.join('\n')}`, calls };
}

export function writeC(image: ModelImage, vectors: TestVectors): { header: string; source: string } {
  const int = image.bits !== 32;
  const arenaWords = Math.max(1, Math.ceil(image.arenaBytes / 4));
  const arenaOf = (addr: number): number => {
    const off = addr - image.arenaAt;
    if (off < 0 || off >= image.arenaBytes) throw new Error(`export C: address ${addr} is outside the arena`);
    return off;
  };
  const tables: string[] = [];
  const kernels = new Set<string>();
  const { consts, calls } = int ? intCalls(image, arenaOf, kernels, tables) : f32Calls(image, arenaOf, kernels, tables);
  const score = int ? 'int32_t' : 'float';
  const params = image.inputs.map((_, i) => `const btnn_input${i}_t *x${i}`).join(', ');
  const outN = image.output.width;
  const classExpr = image.classRule === 'argmaxF32' || image.classRule === 'argmaxI32'
    ? `{ int c, best = 0; for (c = 1; c < ${outN}; c++) if (out[c] > out[best]) best = c; return best; }`
    : image.classRule === 'positiveF32' ? 'return out[0] > 0.0f ? 1 : 0;' : 'return -1;';
  const stride = image.inputs.reduce((n, x) => n + x.bytes, 0);
  const expected = int
    ? Array.from(new Int32Array(vectors.outputs.buffer, vectors.outputs.byteOffset, vectors.outputs.length / 4), (v) => (v === -2147483648 ? '(-2147483647 - 1)' : String(v)))
    : Array.from(new Float32Array(vectors.outputs.buffer, vectors.outputs.byteOffset, vectors.outputs.length / 4), hexFloat);
  const header = `/* Generated by btnn export: ${image.spec.layers.length} layers, ${image.bits} bits, ${image.weightsBytes} weight bytes, arena ${image.arenaBytes} bytes. */
#ifndef BTNN_MODEL_H
#define BTNN_MODEL_H
#include <stdint.h>

#define BTNN_BITS ${image.bits}
#define BTNN_INPUTS ${image.inputs.length}
${image.inputs.map((x, i) => `#define BTNN_INPUT${i}_WIDTH ${x.width} /* ${x.name} */\ntypedef ${C_TYPE[x.dtype]} btnn_input${i}_t;`).join('\n')}
#define BTNN_OUTPUTS ${outN}
${int ? `/* Scores are int32: score / 2^BTNN_OUTPUT_FRAC is the logit. */\n#define BTNN_OUTPUT_FRAC ${image.output.frac}\n` : ''}typedef ${score} btnn_score_t;
#define BTNN_ARENA_BYTES ${arenaWords * 4}
#define BTNN_WEIGHT_BYTES ${image.constBytes.length}
#define BTNN_TEST_VECTORS ${vectors.count}

/* Runs one row; writes BTNN_OUTPUTS scores when scores is not NULL; returns the class (${image.classRule === 'none' ? 'always -1: no classes' : 'argmax'}). */
int btnn_run(${params}, btnn_score_t *scores);
/* Runs the baked test vectors; returns how many reproduce btnn's outputs bit for bit. */
int btnn_check(void);

#endif
`;
  const source = `/* Generated by btnn export. Compile with -ffp-contract=off (no fused multiply-add) to get btnn's bits.
 * Test vector inputs are stored as little-endian bytes. */
#include <string.h>
#include "model.h"

${[...kernels].sort().map((k) => `#define BTNN_K_${k}`).join('\n')}
${kernelsSource()}
${consts}

/* Every mutable buffer, at the offsets of the memory plan. */
static ${int ? 'int32_t' : 'float'} btnn_arena${int ? '' : '_f32'}[${arenaWords}];
${int ? '' : '#define btnn_arena btnn_arena_f32\n'}
${tables.join('\n')}

static void btnn_forward(void) {
${calls.map((c) => '  ' + c).join('\n')}
}

static int btnn_finish(btnn_score_t *scores) {
  btnn_score_t out[${outN}];
  btnn_forward();
  memcpy(out, (const unsigned char *)btnn_arena + ${arenaOf(image.output.address)}, ${image.output.bytes});
  if (scores) memcpy(scores, out, ${image.output.bytes});
  ${classExpr}
}

int btnn_run(${params}, btnn_score_t *scores) {
${image.inputs.map((x, i) => `  memcpy((unsigned char *)btnn_arena + ${arenaOf(x.address)}, x${i}, ${x.bytes});`).join('\n')}
  return btnn_finish(scores);
}

static const unsigned char btnn_vec_in[${Math.max(1, vectors.inputs.length)}] = {
${vectors.inputs.length ? wrap(Array.from(vectors.inputs, String), 24) : '  0'}
};
static const btnn_score_t btnn_vec_out[${Math.max(1, expected.length)}] = {
${expected.length ? wrap(expected, int ? 12 : 6) : '  0'}
};

int btnn_check(void) {
  int v, ok = 0;
  btnn_score_t scores[${outN}];
  for (v = 0; v < ${vectors.count}; v++) {
    const unsigned char *row = btnn_vec_in + (long)v * ${stride};
${image.inputs.map((x, i) => `    memcpy((unsigned char *)btnn_arena + ${arenaOf(x.address)}, row + ${image.inputs.slice(0, i).reduce((n, y) => n + y.bytes, 0)}, ${x.bytes});`).join('\n')}
    btnn_finish(scores);
    if (memcmp(scores, btnn_vec_out + (long)v * ${outN}, ${image.output.bytes}) == 0) ok++;
  }
  return ok;
}
`;
  return { header, source };
}
