// The DLRM of the paper's headline experiment (METHOD.md §5.1) as a ModelSpec: a bottom MLP on
// the 13 dense features, one embedding table per categorical feature (the five large ones in a
// tensor format, the rest dense), DLRM's pairwise-dot interaction of the bottom output with the
// 26 embeddings, concatenated with the bottom output, a top MLP and one sigmoid output.
import type { LayerSpec, ModelSpec } from './types.js';
import { formatRanks, type LayerFormat } from './formats.js';
import { formatOf } from '../formats/index.js';
import { CATEGORICAL_INPUTS, CRITEO_DENSE, DENSE_INPUT } from '../data/criteo.js';
import { PLANTED_TABLES, vocabModesFor } from '../data/synth-criteo.js';
import { validateSpec } from './validate.js';

export interface DlrmOptions {
  cardinalities: number[];
  /** Embedding width m (the paper: 128). */
  dim?: number;
  /** Format of the large tables (default ttm) and their max rank (TTM 16, TT 24 as the paper). */
  format?: LayerFormat;
  maxRank?: number;
  /** Table positions tensorized (default the five large ones; 'all' for every table). */
  tensorized?: number[] | 'all';
  /** Hidden widths of the bottom MLP (its last layer has width dim) and of the top MLP. */
  bottom?: number[];
  top?: number[];
  /** Embedding modes of TTM tables (default [4,4,8] for m = 128). */
  embModes?: number[];
}

/** The paper's max ranks of the five large tables per format (METHOD.md §1.9: about equal parameters). */
const PAPER_MAX_RANK: Partial<Record<LayerFormat, number>> = { ttm: 16, tt: 24, cp: 350, tucker: 22 };

const dense = (name: string, input: string, inF: number, outF: number): LayerSpec => ({ kind: 'linear', name, input, format: 'dense', inFeatures: inF, outFeatures: outF });

export function dlrmSpec(o: DlrmOptions): ModelSpec {
  const dim = o.dim ?? 128, format = o.format ?? 'ttm';
  const maxRank = o.maxRank ?? PAPER_MAX_RANK[format] ?? formatOf(format).defaultMaxRank;
  const tensorized = o.tensorized === 'all' ? o.cardinalities.map((_, i) => i) : o.tensorized ?? PLANTED_TABLES;
  const embModes = o.embModes ?? (dim === 128 ? [4, 4, 8] : [dim]);
  const layers: LayerSpec[] = [];
  let prev = DENSE_INPUT, width = CRITEO_DENSE;
  const mlp = (prefix: string, widths: number[], last: boolean): void => {
    widths.forEach((w, i) => {
      const name = `${prefix}${i + 1}`;
      layers.push(dense(name, prev, width, w));
      prev = name; width = w;
      if (!(last && i === widths.length - 1)) { layers.push({ kind: 'activation', name: `${name}_relu`, input: name, fn: 'relu' }); prev = `${name}_relu`; }
    });
  };
  mlp('bot', [...(o.bottom ?? [512, 256]), dim], false);
  const bottom = prev;
  const embs = CATEGORICAL_INPUTS.map((input, t) => {
    const rows = o.cardinalities[t], name = `emb_${input}`;
    if (!tensorized.includes(t) || !formatOf(format).tensorized) {
      layers.push({ kind: 'embedding', name, input, rows, dim, format: 'dense', inFeatures: rows, outFeatures: dim });
    } else {
      const inModes = vocabModesFor(rows, t);
      // TTM pairs each vocabulary mode with an embedding mode; the others fold the width as one mode.
      const outModes = formatOf(format).pairsModes ? embModes : [dim];
      const inFeatures = inModes.reduce((a, b) => a * b, 1);
      layers.push({ kind: 'embedding', name, input, rows, dim, format, inFeatures, outFeatures: dim, inModes, outModes, ranks: formatRanks(format, inModes, outModes, maxRank) });
    }
    return name;
  });
  layers.push({ kind: 'interaction', name: 'interact', inputs: [bottom, ...embs] });
  layers.push({ kind: 'concat', name: 'features', inputs: [bottom, 'interact'] });
  prev = 'features'; width = dim + ((embs.length + 1) * embs.length) / 2;
  mlp('top', [...(o.top ?? [512, 256]), 1], true);
  return validateSpec({
    version: 2,
    inputs: [{ name: DENSE_INPUT, dtype: 'f32', shape: [CRITEO_DENSE] }, ...CATEGORICAL_INPUTS.map((name) => ({ name, dtype: 'i32' as const, shape: [1] }))],
    layers, loss: { kind: 'sigmoid-bce' },
  });
}
