// W = the dense [N_in × N_out] matrix a tensor-format layer represents, in f64, by contracting its
// network's factors left to right with a plain loop einsum. Independent of the planner and the
// core's programs on purpose: it is the reference they are tested against, and the way to export
// a layer densely.
import type { LayerSpec } from '../spec/formats.js';
import { layerNetwork } from '../tn/network.js';
import { product } from '../util/math.js';

interface DenseTensor { indices: string[]; data: Float64Array<ArrayBufferLike> }

/** C[out] = Σ over the other indices of A·B, row-major over every index list. */
export function einsumPair(A: DenseTensor, B: DenseTensor, out: string[], dims: Record<string, number>): DenseTensor {
  const all = [...new Set([...A.indices, ...B.indices, ...out])];
  const sizes = all.map((ix) => dims[ix]);
  const strideIn = (layout: string[]): number[] => {
    const s = new Map<string, number>();
    let acc = 1;
    for (let i = layout.length - 1; i >= 0; i--) { s.set(layout[i], acc); acc *= dims[layout[i]]; }
    return all.map((ix) => s.get(ix) ?? 0);
  };
  const sa = strideIn(A.indices), sb = strideIn(B.indices), sc = strideIn(out);
  const data = new Float64Array(product(out.map((ix) => dims[ix])));
  const idx = new Array(all.length).fill(0);
  const total = product(sizes);
  let pa = 0, pb = 0, pc = 0;
  for (let n = 0; n < total; n++) {
    data[pc] += A.data[pa] * B.data[pb];
    for (let j = all.length - 1; j >= 0; j--) {
      if (++idx[j] < sizes[j]) { pa += sa[j]; pb += sb[j]; pc += sc[j]; break; }
      idx[j] = 0;
      pa -= (sizes[j] - 1) * sa[j]; pb -= (sizes[j] - 1) * sb[j]; pc -= (sizes[j] - 1) * sc[j];
    }
  }
  return { indices: out, data };
}

/** The layer's W [N_in × N_out] in f64 from its factors (storage order of layerTensors). */
export function layerToDense(layer: LayerSpec, factors: ArrayLike<number>[]): Float64Array {
  const net = layerNetwork(layer);
  if (factors.length !== net.factors.length) throw new Error(`layer ${layer.name}: ${factors.length} factors given, the format has ${net.factors.length}`);
  const terms = net.factors.map((f, i) => ({ indices: f.indices, data: Float64Array.from(factors[i]) }));
  const target = [...net.inIndices, ...net.outIndices];
  let acc: DenseTensor = terms[0];
  for (let t = 1; t < terms.length; t++) {
    const later = new Set([...target, ...terms.slice(t + 1).flatMap((x) => x.indices)]);
    const keep = [...new Set([...acc.indices, ...terms[t].indices])].filter((ix) => later.has(ix));
    acc = einsumPair(acc, terms[t], keep, net.dims);
  }
  // Reorder to [inIndices, outIndices] (a copy through einsum with a unit tensor).
  return einsumPair(acc, { indices: [], data: new Float64Array([1]) }, target, net.dims).data as Float64Array;
}
