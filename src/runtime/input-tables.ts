// The values of an input's standardisation table (prepare's InputTable): what the runtime writes
// into its buffer once, and what an exported module carries in its data.
import { isGlobalNorm, type ModelSpec } from '../spec/types.js';
import type { InputTable } from '../prepare/prepare.js';

/**
 * `lut`: 256 f32, the value a byte stands for. A byte b of a u8 input stands for b / range and is
 * fed as fround((fround(b / range) − mean) · (1 / std)) in f64 — exactly what btnn 0.1 computed on
 * the host for every pixel, so its models evaluate to the same bits. `affine`: the means, then the
 * reciprocal stds, each padded to whole 16-byte groups.
 */
export function inputTableValues(spec: ModelSpec, t: InputTable): Float32Array {
  const norm = spec.inputNorm;
  const x = spec.inputs.find((i) => i.name === t.input)!;
  const stats = (j: number): { mean: number; std: number } => {
    if (!norm) return { mean: 0, std: 1 };
    if (isGlobalNorm(norm)) return norm;
    const f = norm[t.input];
    return f ? { mean: f.mean[j], std: f.std[j] } : { mean: 0, std: 1 };
  };
  if (t.kind === 'lut') {
    const range = x.range ?? 255, { mean, std } = stats(0);
    const table = new Float32Array(256);
    for (let b = 0; b < 256; b++) table[b] = norm ? (Math.fround(b / range) - mean) * (1 / std) : b / range;
    return table;
  }
  const pad = Math.ceil(t.width / 4) * 4;
  const out = new Float32Array(2 * pad);
  for (let j = 0; j < t.width; j++) { const s = stats(j); out[j] = s.mean; out[pad + j] = 1 / s.std; }
  return out;
}
