// The text model of the SpamAssassin task (src/data/spam-assassin.ts): an embedding bag over the
// e-mail's hashed tokens (mean over its SPAM_TOKENS positions, padding id 0 included, so a short
// e-mail's bag leans to the padding row) and one linear sigmoid output, fastText-like. The table,
// 2¹⁸ × 64 = 16.8·10⁶ parameters dense, is the tensor: TTM [64,64,64] × [4,4,4], or a flat
// format over the vocabulary modes [64,64,64] and the width [64].
import type { ModelSpec } from './types.js';
import { formatRanks, type LayerFormat } from './formats.js';
import { formatOf } from '../formats/index.js';
import { SPAM_BUCKETS, SPAM_INPUT, SPAM_TOKENS } from '../data/spam-assassin.js';
import { validateSpec } from './validate.js';

export function spamSpec(o: { format?: LayerFormat; maxRank?: number; dim?: number } = {}): ModelSpec {
  const format = o.format ?? 'ttm', dim = o.dim ?? 64;
  const inModes = [64, 64, 64];
  const outModes = formatOf(format).pairsModes ? [4, 4, 4] : [dim];
  const table = formatOf(format).tensorized
    ? { format, inFeatures: SPAM_BUCKETS, outFeatures: dim, inModes, outModes, ranks: formatRanks(format, inModes, outModes, o.maxRank ?? formatOf(format).defaultMaxRank) }
    : { format, inFeatures: SPAM_BUCKETS, outFeatures: dim };
  return validateSpec({
    version: 2,
    inputs: [{ name: SPAM_INPUT, dtype: 'i32', shape: [SPAM_TOKENS] }],
    layers: [
      { kind: 'embedding', name: 'emb', input: SPAM_INPUT, rows: SPAM_BUCKETS, dim, pool: 'mean', ...table },
      { kind: 'linear', name: 'out', format: 'dense', inFeatures: dim, outFeatures: 1 },
    ],
    loss: { kind: 'sigmoid-bce' },
  });
}
