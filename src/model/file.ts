// Model files: safetensors with the ModelSpec in `__metadata__` ("btnn.spec", JSON), so PyTorch
// and other readers get the factors by name while btnn gets everything it needs to rebuild the
// network. Tensors: `<layer>.core<k>` [r_k, a_k, b_k, r_{k+1}] for TTM, `<layer>.weight`
// [in, out] for dense, `<layer>.bias` [out]; float32 little-endian. Models trained with the
// low-rank prior add `<layer>.rankVar.<index>` [rank] (the rank variances λ) and, with SVI,
// `<tensor>.rho` (σ = softplus(ρ)) for every tensor that has a prior.
import { readSafetensors, writeSafetensors, type NamedTensor } from '../io/safetensors.js';
import { SpecError, type ModelSpec } from '../spec/types.js';
import { validateSpec } from '../spec/validate.js';
import { modelTensors } from './layers.js';
import { rankGroups, governedTensors } from '../bayes/groups.js';
import { showValue } from '../util/show.js';

export const MODEL_FILE_VERSION = '1';

export class ModelFileError extends Error {
  constructor(message: string) { super(message); this.name = 'ModelFileError'; }
}

/** The tensors a spec's model file holds beyond the layers' own: rank variances, posterior scales. */
export function variationalTensors(spec: ModelSpec): { name: string; shape: number[] }[] {
  if (!spec.inference) return [];
  const groups = rankGroups(spec);
  const out = groups.map((g) => ({ name: `${g.layer}.rankVar.${g.index}`, shape: [g.size] }));
  if (spec.inference === 'svi') {
    const shapes = new Map(modelTensors(spec).map((t) => [t.name, t.shape]));
    for (const t of governedTensors(spec)) out.push({ name: `${t}.rho`, shape: shapes.get(t)! });
  }
  return out;
}

export function saveModel(path: string, spec: ModelSpec, tensorOf: (name: string) => Float32Array, extra: Record<string, string> = {},
                          variational: NamedTensor[] = []): void {
  const tensors: NamedTensor[] = modelTensors(spec).map((t) => ({ name: t.name, shape: t.shape, data: tensorOf(t.name) }));
  tensors.push(...variational);
  const metadata: Record<string, string> = {
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`btnn.${k}`, v])),
    'btnn.version': MODEL_FILE_VERSION,
    'btnn.spec': JSON.stringify(spec),
  };
  writeSafetensors(path, tensors, metadata);
}

export interface LoadedModel { spec: ModelSpec; tensors: Map<string, NamedTensor>; metadata: Record<string, string> }

export function loadModel(path: string): LoadedModel {
  const { tensors, metadata } = readSafetensors(path);
  const version = metadata['btnn.version'];
  if (version === undefined) throw new ModelFileError(`${path}: __metadata__ has no "btnn.version": not a btnn model file (was it written by \`btnn train\`?)`);
  if (version !== MODEL_FILE_VERSION) throw new ModelFileError(`${path}: btnn.version = ${showValue(version)}: this btnn reads version ${MODEL_FILE_VERSION}; upgrade btnn`);
  // Parsing and validating apart: only JSON.parse's own failure (a SyntaxError, or a RangeError on
  // input nested too deep) means "not valid JSON"; a SpecError is the spec's; anything else is a bug
  // and propagates as one.
  let raw: unknown;
  try {
    raw = JSON.parse(metadata['btnn.spec'] ?? 'null');
  } catch (err) {
    throw new ModelFileError(`${path}: __metadata__ btnn.spec is not valid JSON (${(err as Error).message})`);
  }
  let spec: ModelSpec;
  try {
    spec = validateSpec(raw);
  } catch (err) {
    if (err instanceof SpecError) throw new ModelFileError(`${path}: __metadata__ ${err.message}`);
    throw err;
  }
  const expected = [...modelTensors(spec), ...variationalTensors(spec)];
  for (const t of expected) {
    const got = tensors.get(t.name);
    if (!got) throw new ModelFileError(`${path}: tensor "${t.name}" is missing; the spec needs shape [${t.shape.join(',')}]`);
    if (got.shape.length !== t.shape.length || got.shape.some((s, i) => s !== t.shape[i])) {
      throw new ModelFileError(`${path}: tensor "${t.name}".shape = [${got.shape.join(',')}], the spec needs [${t.shape.join(',')}]`);
    }
    const bad = got.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new ModelFileError(`${path}: tensor "${t.name}"[${bad}] = ${got.data[bad]}: model weights must be finite`);
  }
  const names = new Set(expected.map((t) => t.name));
  for (const name of tensors.keys()) {
    if (!names.has(name)) throw new ModelFileError(`${path}: tensor "${name}" is not part of the spec's layers; the file is inconsistent`);
  }
  return { spec, tensors, metadata };
}
