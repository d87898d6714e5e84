// The format registry: every layer format, by the name a spec's `format` field carries. A format
// is one file of this directory (its network, ranks and their checks, rank groups, parameter
// count, initialisation, pruning respec) plus its line in FORMATS_REGISTRY; nothing outside this
// directory switches on a format name.
import type { Format } from './types.js';
import { dense } from './dense.js';
import { cp } from './cp.js';
import { tucker } from './tucker.js';
import { tt } from './tt.js';
import { ttm } from './ttm.js';
import { tr } from './tr.js';

export type { Format, TensorLayer, Factor, Network, Governed, RankGroup, Fail } from './types.js';
export { CORE_GROUP, tuckerRanks } from './tucker.js';
export { ttmRanks } from './ttm.js';
export { chainRanks, internalIndices } from './shared.js';

export const FORMATS_REGISTRY = { dense, cp, tucker, tt, ttm, tr } as const satisfies Record<string, Format>;

export type FormatName = keyof typeof FORMATS_REGISTRY;

/** Every format name, registry order. */
export const FORMAT_NAMES: readonly FormatName[] = Object.keys(FORMATS_REGISTRY) as FormatName[];

/** The formats with modes and ranks (all but dense). */
export const TENSOR_FORMAT_NAMES: readonly FormatName[] = FORMAT_NAMES.filter((f) => FORMATS_REGISTRY[f].tensorized);

export const isFormatName = (name: unknown): name is FormatName =>
  typeof name === 'string' && Object.prototype.hasOwnProperty.call(FORMATS_REGISTRY, name);

/** The format called `name`; throws for an unknown one. */
export function formatOf(name: string): Format {
  if (!isFormatName(name)) throw new Error(`unknown format ${String(name)}`);
  return FORMATS_REGISTRY[name];
}
