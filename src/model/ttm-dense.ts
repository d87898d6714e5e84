// W = the dense [N_in × N_out] matrix a TTM layer represents, in f64, by the definition
// W[(i_0..i_{d-1}), (j_0..j_{d-1})] = Π_k G_k[:, i_k, j_k, :] (row-major mixed-radix indices).
// The reference the kernels are tested against, and the way to export a TTM layer densely.
import type { LayerSpec } from './spec.js';
import { ttmGeometry } from './layers.js';

export function ttmToDense(layer: LayerSpec, cores: ArrayLike<number>[]): Float64Array {
  const { inModes: a, outModes: b, ranks: r } = ttmGeometry(layer);
  const d = a.length;
  if (cores.length !== d) throw new Error(`layer ${layer.name}: ${cores.length} cores given, the spec has ${d}`);
  // Left-to-right partial products P_k[(i_<k), (j_<k), r_k], grown one core at a time.
  let rowsIn = 1, rowsOut = 1;
  let P = new Float64Array([1]); // [1 × 1 × r_0 = 1]
  for (let k = 0; k < d; k++) {
    const G = cores[k], r0 = r[k], r1 = r[k + 1];
    const next = new Float64Array(rowsIn * a[k] * rowsOut * b[k] * r1);
    for (let I = 0; I < rowsIn; I++) for (let J = 0; J < rowsOut; J++) {
      for (let p = 0; p < r0; p++) {
        const pv = P[(I * rowsOut + J) * r0 + p];
        if (pv === 0) continue;
        for (let i = 0; i < a[k]; i++) for (let j = 0; j < b[k]; j++) {
          const out = (((I * a[k] + i) * rowsOut + J) * b[k] + j) * r1;
          const g = ((p * a[k] + i) * b[k] + j) * r1;
          for (let q = 0; q < r1; q++) next[out + q] += pv * G[g + q];
        }
      }
    }
    P = next;
    rowsIn *= a[k];
    rowsOut *= b[k];
  }
  return P; // r_d = 1: [N_in × N_out]
}
