// The model graph read off a ModelSpec: every value (a model input or a layer's output) with its
// width per row and dtype, the values each layer reads, and who reads each value. Validation
// (validate.ts) builds it once; lowering (src/layers) and prepare walk it.
import type { DType, LayerSpec, ModelSpec } from './types.js';
import { product } from '../util/math.js';

export interface Value {
  name: string;
  /** Elements per row. */
  width: number;
  dtype: DType;
  /** The layer that writes it (-1: a model input). */
  producer: number;
  /** Layers that read it, in spec order. */
  consumers: number[];
}

export interface Graph {
  values: Map<string, Value>;
  /** Per layer, the values it reads (resolved: a missing `input` means the previous layer). */
  inputsOf: string[][];
  /** The value the loss reads. */
  lossInput: string;
}

/** The values a layer reads as written in the spec (before defaults). */
export function declaredInputs(layer: LayerSpec): string[] | undefined {
  if (layer.kind === 'concat' || layer.kind === 'interaction') return layer.inputs;
  return layer.input === undefined ? undefined : [layer.input];
}

/** Output width of a layer given its inputs' widths (no checks: validate.ts has them). */
export function outputWidth(layer: LayerSpec, inWidths: number[]): number {
  switch (layer.kind) {
    case 'linear': return layer.outFeatures;
    case 'embedding': return layer.dim;
    case 'activation': return inWidths[0];
    case 'concat': return inWidths.reduce((s, w) => s + w, 0);
    case 'interaction': { const k = inWidths.length; return (k * (k - 1)) / 2; }
  }
}

/**
 * The graph of a spec whose names resolve (validate.ts checks that first and names the field).
 * Throws a plain Error on an unknown name: callers that take user input validate before.
 */
export function buildGraph(spec: ModelSpec): Graph {
  const values = new Map<string, Value>();
  for (const x of spec.inputs) values.set(x.name, { name: x.name, width: product(x.shape), dtype: x.dtype, producer: -1, consumers: [] });
  const inputsOf: string[][] = [];
  spec.layers.forEach((layer, i) => {
    const names = declaredInputs(layer) ?? [i === 0 ? spec.inputs[0].name : spec.layers[i - 1].name];
    const ins = names.map((n) => {
      const v = values.get(n);
      if (!v) throw new Error(`layer ${layer.name} reads ${n}, which is neither an input nor an earlier layer`);
      v.consumers.push(i);
      return v;
    });
    inputsOf.push(names);
    values.set(layer.name, { name: layer.name, width: outputWidth(layer, ins.map((v) => v.width)), dtype: 'f32', producer: i, consumers: [] });
  });
  const lossInput = spec.loss.input ?? spec.layers[spec.layers.length - 1].name;
  values.get(lossInput)?.consumers.push(spec.layers.length);
  return { values, inputsOf, lossInput };
}

/** Width of the loss's target per row: 1 class id (softmax), else one value per output. */
export function targetWidth(spec: ModelSpec, graph: Graph): number {
  return spec.loss.kind === 'softmax-xent' ? 1 : graph.values.get(graph.lossInput)!.width;
}
