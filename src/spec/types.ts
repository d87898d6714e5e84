// ModelSpec v2: the plain-JSON model graph a model file stores and `--spec FILE.json` reads.
//   inputs   named, typed per-row inputs: {name, dtype: f32 | u8 | i32, shape} (ids are i32)
//   layers   each has a `kind` and names its input(s): another layer or a model input; a layer
//            without `input` reads the previous layer (the first layer: the first input)
//   loss     one loss on one layer's output; its target comes with the batch (`target`)
// Kinds: linear (y = x·W + b, W dense or in a tensor format), embedding (rows of a table in any
// format looked up by an i32 id input, optionally pooled over a fixed bag of ids per row),
// activation, concat (along features) and interaction (DLRM's pairwise dot products).
// Tensor formats (W folded over inModes × outModes, ranks per format): src/formats/.

/** Weight formats (src/formats defines each). */
export type LayerFormat = 'dense' | 'cp' | 'tucker' | 'tt' | 'ttm' | 'tr';

export type DType = 'f32' | 'u8' | 'i32';
export const DTYPES: readonly DType[] = ['f32', 'u8', 'i32'];

/**
 * A per-row input. u8 inputs (IDX pixels) stay bytes in memory and are standardised in the core:
 * a byte b stands for b / range (default 255).
 */
export interface InputSpec { name: string; dtype: DType; shape: number[]; range?: number }

/** Per-feature statistics of one f32 input (its training split's), for (x − mean) / std in the core. */
export interface FeatureNorm { mean: number[]; std: number[] }

/**
 * Input standardisation: one mean/std over every value of every f32/u8 input (MNIST's pixel
 * statistics, what btnn 0.1 stored), or per input per feature (tables of numbers).
 */
export type InputNorm = { mean: number; std: number } | Record<string, FeatureNorm>;

export const isGlobalNorm = (n: InputNorm): n is { mean: number; std: number } => typeof (n as { mean?: unknown }).mean === 'number';

export type ActFn = 'relu' | 'sigmoid' | 'tanh' | 'none';
export const ACT_FNS: readonly ActFn[] = ['relu', 'sigmoid', 'tanh', 'none'];

/** The fields every weight-carrying layer shares: what src/formats and src/tn see. */
export interface TensorFields {
  name: string;
  format: LayerFormat;
  /** W is [inFeatures × outFeatures]; for an embedding: [Π inModes (≥ rows) × dim]. */
  inFeatures: number;
  outFeatures: number;
  inModes?: number[];
  outModes?: number[];
  ranks?: number[];
}

export interface LinearSpec extends TensorFields {
  kind: 'linear';
  input?: string;
}

export interface EmbeddingSpec extends TensorFields {
  kind: 'embedding';
  /** An i32 input of shape [bag] (bag = 1 without pooling). */
  input: string;
  /** Vocabulary size; ids are integers in [0, rows). inFeatures = Π inModes ≥ rows. */
  rows: number;
  /** Embedding width (= outFeatures = Π outModes). */
  dim: number;
  /** Pooling of the bag's rows into one vector per sample (required when the input's bag > 1). */
  pool?: 'sum' | 'mean';
}

export interface ActivationSpec { kind: 'activation'; name: string; input?: string; fn: ActFn }
export interface ConcatSpec { kind: 'concat'; name: string; inputs: string[] }
export interface InteractionSpec { kind: 'interaction'; name: string; inputs: string[] }

export type LayerSpec = LinearSpec | EmbeddingSpec | ActivationSpec | ConcatSpec | InteractionSpec;
export type TensorLayerSpec = LinearSpec | EmbeddingSpec;
export type LayerKind = LayerSpec['kind'];
export const LAYER_KINDS: readonly LayerKind[] = ['linear', 'embedding', 'activation', 'concat', 'interaction'];

export type LossKind = 'softmax-xent' | 'sigmoid-bce' | 'mse';
export const LOSS_KINDS: readonly LossKind[] = ['softmax-xent', 'sigmoid-bce', 'mse'];

/**
 * softmax-xent: integer classes in [0, classes), one i32 per row (classes = the input's width);
 * sigmoid-bce: 0/1 targets, one f32 per output; mse: one f32 per output.
 */
export interface LossSpec { kind: LossKind; input?: string }

export type Inference = 'svi' | 'map';

export interface ModelSpec {
  version: 2;
  inputs: InputSpec[];
  layers: LayerSpec[];
  loss: LossSpec;
  /** f32 and u8 inputs are fed as (x − mean) / std: the training set's statistics, saved with the model. */
  inputNorm?: InputNorm;
  /**
   * Bayesian low-rank prior on the tensor layers' factors (src/bayes): 'svi' keeps a Gaussian
   * posterior scale σ = softplus(ρ) per factor entry, 'map' a point estimate. Absent: plain training.
   */
  inference?: Inference;
}

export class SpecError extends Error {
  constructor(message: string) { super(message); this.name = 'SpecError'; }
}

export const isTensorLayer = (l: LayerSpec): l is TensorLayerSpec => l.kind === 'linear' || l.kind === 'embedding';

/** The layers that own weights, in storage order (model file, params buffer). */
export const tensorLayers = (spec: ModelSpec): TensorLayerSpec[] => spec.layers.filter(isTensorLayer);
