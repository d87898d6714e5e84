// The one interface every layer format implements (src/formats/<format>.ts) and the types its
// members speak: the layer it reads, the tensor network it builds, the rank groups of the prior.
// This directory sits below src/model, src/train, src/bayes and src/tn/plan: nothing here imports
// from them, so a layer of any spec shape (v1 LayerSpec, a v2 linear or embedding node) that has
// these fields can be passed in.

/** What a format reads from a layer: any spec with these fields will do. */
export interface TensorLayer {
  name: string;
  /** 'embedding' for a table (rows = inFeatures, width = outFeatures); linear otherwise. */
  kind?: string;
  format: string;
  inFeatures: number;
  outFeatures: number;
  inModes?: number[];
  outModes?: number[];
  ranks?: number[];
}

export interface Factor {
  /** Tensor name inside the layer (the model file prefixes the layer name). */
  name: string;
  /** Storage shape, row-major. */
  shape: number[];
  /** Network indices of the storage axes, size-1 axes omitted. */
  indices: string[];
  /** Index name of every storage axis (size-1 ones included): what rank pruning slices. */
  axes: string[];
}

export interface Network {
  dims: Record<string, number>;
  factors: Factor[];
  /** Indices of W's rows (input side) and columns (output side), in row-major order. */
  inIndices: string[];
  outIndices: string[];
  /** Position k (into the layer's inModes) of every input-mode index. */
  inModeOf: Record<string, number>;
}

/** A tensor governed by a rank group, seen as [outer × slices × inner] around the governed axis. */
export interface Governed { tensor: string; axis: number; outer: number; slices: number; inner: number }

export interface RankGroup {
  layer: string;
  /** The rank index this group's slices run over (the network's index name, e.g. r2). */
  index: string;
  size: number;
  governs: Governed[];
  /** D: entries governed by one slice. */
  entriesPerSlice: number;
}

/** Reports a bad field: throws, naming the field, the value and the fix. */
export type Fail = (field: string, value: unknown, fix: string) => never;

export interface Format {
  /** The name a spec's `format` field carries; equals the format's key in FORMATS_REGISTRY. */
  readonly name: string;
  /** W is a tensor network over inModes/outModes with ranks (false: dense, which has neither). */
  readonly tensorized: boolean;
  /** The default max rank (the reference MNIST setup). */
  readonly defaultMaxRank: number;
  /** Input mode k and output mode k share a factor (TTM): both sides need the same number of modes. */
  readonly pairsModes: boolean;

  /** The layer's factors in storage order, with their index names (model files depend on both). */
  network(layer: TensorLayer): Network;
  /** Closed-form parameter count of W (METHOD.md §1.2–1.6), bias excluded. */
  params(layer: TensorLayer): number;

  /** Default ranks at a maximum rank, capped where a larger rank adds no expressiveness (dense: undefined). */
  ranks(inModes: number[], outModes: number[], maxRank: number): number[] | undefined;
  /** d of the rank layout: the modes of the folded tensor (TTM: its cores). */
  order(inModes: number[], outModes: number[]): number;
  /** Mode-layout checks beyond "positive integers whose products are the feature counts". */
  validateModes(inModes: number[], outModes: number[], at: string, fail: Fail): void;
  /** Rank-layout checks; `at` prefixes the field (`${at}.ranks`). */
  validateRanks(ranks: unknown, inModes: number[], outModes: number[], at: string, fail: Fail): void;
  /** The ranks after pruning: `kept` is the surviving slice count per rank index (of rankGroups). */
  respecRanks(ranks: number[], kept: ReadonlyMap<string, number>): number[];

  /** Rank groups of the low-rank prior (METHOD.md §2.2), in a fixed order. */
  rankGroups(layer: TensorLayer, net: Network): RankGroup[];

  /** Std and truncation (in stds) of the i.i.d. normal every factor entry is drawn from (METHOD.md §3.7). */
  init(layer: TensorLayer, net: Network): { std: number; bound: number };
  /** Step-size multiplier of the layer's factors (biases always 1, see src/train/init.ts). */
  lrScale(layer: TensorLayer, net: Network): number;
}
