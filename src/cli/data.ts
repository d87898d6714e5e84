// `btnn data synth-criteo`: write a Criteo-format click log with a known click model (src/data/synth-criteo.ts).
import { synthCriteo } from '../data/synth-criteo.js';
import { UsageError, intOption, type Command, type Values } from './options.js';

async function run(values: Values, positionals: string[]): Promise<number> {
  const which = positionals[0];
  if (which !== 'synth-criteo') throw new UsageError(`data ${which ?? '(none)'}: the one data command is synth-criteo`, 'data');
  const rows = intOption(values, 'rows', undefined, 8, 2 ** 40);
  if (rows === undefined) throw new UsageError('synth-criteo needs --rows N (at least 8)', 'data');
  const out = values.out as string | undefined;
  if (!out) throw new UsageError('synth-criteo needs --out FILE (the log; FILE.json gets the click model)', 'data');
  let cardinalities: number[] | undefined;
  if (values.cardinalities !== undefined) {
    const text = String(values.cardinalities);
    cardinalities = text.split(',').map(Number);
    if (cardinalities.length !== 26 || cardinalities.some((c) => !(Number.isSafeInteger(c) && c >= 1))) {
      throw new UsageError(`--cardinalities ${text}: need 26 comma-separated table sizes (integers >= 1), C1..C26`, 'data');
    }
  }
  const s = synthCriteo({
    rows, out, seed: intOption(values, 'seed', 1, 0, 2 ** 32 - 1)!, cardinalities,
    plantedRank: intOption(values, 'planted-rank', 4, 1, 32), log: process.stderr,
  });
  process.stdout.write(`wrote ${out} (${s.rows} rows, click rate ${s.clickRate.toFixed(4)}) and ${out}.json\n` +
    `planted model on the held-out ${s.heldOut.rows} rows: accuracy ${(100 * s.heldOut.accuracy).toFixed(2)} %, AUC ${s.heldOut.auc.toFixed(4)}, log loss ${s.heldOut.logLoss.toFixed(4)}\n`);
  return 0;
}

export const DATA: Command = {
  name: 'data',
  summary: 'synth-criteo: write a Criteo-format click log whose click model (planted low-rank tables) is known',
  usage: 'btnn data synth-criteo --rows N --out FILE [--seed S] [--cardinalities c1,…,c26] [--planted-rank R]',
  positionals: 1,
  options: {
    rows: { type: 'string', arg: 'N', help: 'lines to write (each ≈ 200 bytes)' },
    out: { type: 'string', arg: 'FILE', help: 'the log (tab-separated, the Criteo Kaggle / DLRM text format); FILE.json\nholds the click model, the planted ranks and the planted model\'s own held-out\naccuracy, AUC and log loss (the best a model can do)' },
    seed: { type: 'string', arg: 'S', help: 'seed of the click model and of every row (default 1); same seed, same bytes' },
    cardinalities: { type: 'string', arg: 'c1,…,c26', help: 'table sizes of C1..C26 (default: Criteo Kaggle\'s, 33.8·10⁶ rows in all; the\nfive large tables C3, C4, C12, C16, C21 are the planted low-rank ones)' },
    'planted-rank': { type: 'string', arg: 'R', help: 'bond rank of the planted tensor trains of the five large tables (default 4)' },
  },
  notes: 'Train on it: btnn train --spec examples/dlrm-kaggle.json --data criteo:FILE --inference svi\n',
  run,
};
