// btnn as a library: `import { train, loadModel, evaluate, simulate } from 'btnn'`. The CLI is a thin
// layer over exactly these (src/cli). Everything here is ESM with types (build/js/src/index.d.ts).
export { train, Interrupted, OutputError, TRAIN_LANES, type TrainOptions, type TrainSummary, type BayesOptions, type EpochLog, type PruneEvent } from './train/train.js';
export { evaluate, type EvaluateOptions, type EvaluateResult } from './train/evaluate.js';
export { loadModel, saveModel, ModelFileError, type LoadedModel } from './model/file.js';
export { simulate, type SimOptions, type SimReport } from '../hw-sim/simulate.js';
export { loadDevice, listDevices, DeviceError, type DeviceProfile } from '../hw-sim/devices.js';
export { writeReports, formatSummary } from '../hw-sim/report.js';
export { validateSpec } from './spec/validate.js';
export { defaultSpec, linearLayer } from './spec/defaults.js';
export { hiddenSpec, autoModes, factorize } from './spec/auto-modes.js';
export { SpecError, tensorLayers } from './spec/types.js';
export type { ModelSpec, LayerSpec, LinearSpec, EmbeddingSpec, ActivationSpec, ConcatSpec, InteractionSpec, InputSpec, LossSpec, LayerFormat } from './spec/types.js';
export { FORMATS, formatRanks } from './spec/formats.js';
export { modelParams, denseParams, layerParams } from './model/layers.js';
export { loadMnist } from './data/mnist.js';
export { loadData, type LoadDataOptions } from './data/source.js';
export { DataError, closeDataset, type Dataset, type Column, type Target, type DataSourceInfo } from './data/dataset.js';
export type { InputNorm, FeatureNorm } from './spec/types.js';
export type { LogStream } from './util/progress.js';
// Lower level: the runtime and its plan, for embedding btnn in other tools.
export { Runtime, PlanError, type Batch, type DataSource, type RuntimeOptions } from './runtime/runtime.js';
export { prepare, type Prepared } from './prepare/prepare.js';
export { loadCore, FLAVOURS, type Core, type Flavour } from './core/wasm.js';
