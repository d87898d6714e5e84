// `btnn experiment planted-rank`: does the rank prior find a rank we know? (src/ard/planted.ts)
import { TENSOR_FORMAT_NAMES } from '../formats/index.js';
import type { LayerFormat } from '../spec/formats.js';
import { plantedRank } from '../ard/planted.js';
import { UsageError, choiceOption, intOption, type Command, type Values } from './options.js';

async function run(values: Values, positionals: string[]): Promise<number> {
  const which = positionals[0];
  if (which !== 'planted-rank') throw new UsageError(`experiment ${which ?? '(none)'}: the one experiment is planted-rank`, 'experiment');
  const format = choiceOption(values, 'format', TENSOR_FORMAT_NAMES);
  if (!format) throw new UsageError(`--format (missing): planted-rank needs one of ${TENSOR_FORMAT_NAMES.join(', ')}`, 'experiment');
  const trueRank = intOption(values, 'true-rank', undefined, 1, 8);
  if (trueRank === undefined) throw new UsageError('planted-rank needs --true-rank r (1..8)', 'experiment');
  const maxRank = intOption(values, 'max-rank', 3 * trueRank, trueRank, 16)!;
  const inference = choiceOption(values, 'inference', ['svi', 'map'] as const, 'svi');
  const r = await plantedRank({ format: format as Exclude<LayerFormat, 'dense'>, trueRank, maxRank, seed: intOption(values, 'seed', 1, 0, 2 ** 31)!, inference });
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  return 0;
}

export const EXPERIMENT: Command = {
  name: 'experiment',
  summary: 'planted-rank: fit a 64×64 matrix of known low rank (plus 10 % noise) with the rank prior; prints JSON',
  usage: 'btnn experiment planted-rank --format F --true-rank r [--max-rank R] [--seed S] [--inference svi|map]',
  positionals: 1,
  options: {
    format: { type: 'string', arg: 'F', help: `tensor format: ${TENSOR_FORMAT_NAMES.join(', ')}` },
    'true-rank': { type: 'string', arg: 'r', help: 'the planted rank of every bond, 1..8' },
    'max-rank': { type: 'string', arg: 'R', help: 'the rank training starts from (default 3r, at most 16)' },
    seed: { type: 'string', arg: 'S', help: 'seed of the planted factors, noise and training (default 1)' },
    inference: { type: 'string', arg: 'svi|map', help: 'the inference method (default svi)' },
  },
  run,
};
