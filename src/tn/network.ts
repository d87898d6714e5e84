// Every layer format as a tensor network: named factors, each a row-major tensor over named
// indices. Contraction paths (path.ts) and programs (compile.ts) only ever see this form. Each
// format builds its network in its own file of src/formats (folding convention and index names:
// src/formats/shared.ts); this module is the entry point the rest of the runtime calls.
import { formatOf, type Network, type TensorLayer } from '../formats/index.js';

export type { Factor, Network } from '../formats/index.js';
export { internalIndices } from '../formats/index.js';

/** The batch index of x and y. */
export const BATCH = 'b';

export function layerNetwork(layer: TensorLayer): Network {
  return formatOf(layer.format).network(layer);
}

/** Closed-form parameter count of a layer's weight (METHOD.md §1.2–1.6), bias excluded. */
export function formatParams(layer: TensorLayer): number {
  return formatOf(layer.format).params(layer);
}
