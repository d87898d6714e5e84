// The SpamAssassin text task: tokens and their hashed ids, the fixed seeded split, refused options,
// and the tensorized embedding bag (examples/spam.json) learning ham from spam to a stated accuracy.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SPAM_BUCKETS, SPAM_TOKENS, loadSpamAssassin, mailText, tokenId, tokens } from '../src/data/spam-assassin.js';
import { loadData } from '../src/data/source.js';
import { spamSpec } from '../src/spec/spam.js';
import { train } from '../src/train/train.js';

t.test('tokens: Subject and body, lower-case words, hashed into 1..2^18-1 (0 is padding)', async (t) => {
  t.equal(mailText('From: a@b.c\nSubject: Cheap PILLS\nX-Spam: yes\n\nBuy now'), ' Cheap PILLS\n\n\nBuy now', 'other headers dropped');
  t.same(tokens('Hello, WORLD 42 -- naïve!'), ['hello', 'world', '42', 'na', 've']);
  t.equal(tokens('a '.repeat(300)).length, SPAM_TOKENS, `at most ${SPAM_TOKENS} tokens`);
  const ids = ['hello', 'world', 'a', 'b', ''].map((w) => tokenId(w));
  t.ok(ids.every((v) => Number.isInteger(v) && v >= 1 && v < SPAM_BUCKETS), `ids in [1, 2^18): ${ids}`);
  t.equal(tokenId('hello'), 1 + (0x4f9f2cab % (SPAM_BUCKETS - 1)), 'FNV-1a of "hello" (0x4f9f2cab)');
  t.not(tokenId('hello'), tokenId('hellp'));
});

t.test('the corpus: 6 046 e-mails, a fixed seeded 20 % held out, labels 0/1, ids padded with 0', async (t) => {
  const { train: tr, test } = loadSpamAssassin();
  t.equal(tr.count + test.count, 6046);
  t.equal(test.count, Math.ceil(0.2 * 6046));
  const spam = (d: typeof tr): number => (d.target.data as Float32Array).reduce((s, v) => s + v, 0);
  t.equal(spam(tr) + spam(test), 1896, '1 896 spam in all');
  t.ok(Math.abs(spam(test) / test.count - 1896 / 6046) < 0.04, `the test split's spam share ${(spam(test) / test.count).toFixed(3)} is the corpus's`);
  const ids = tr.inputs[0].data as Int32Array;
  t.equal(ids.length, tr.count * SPAM_TOKENS);
  t.ok(ids.every((v) => v >= 0 && v < SPAM_BUCKETS), 'every id a table row');
  let padded = 0, holes = 0;
  for (let r = 0; r < tr.count; r++) {
    const row = ids.subarray(r * SPAM_TOKENS, (r + 1) * SPAM_TOKENS);
    const n = row.indexOf(0);
    if (n >= 0) { padded++; if (!row.subarray(n).every((v) => v === 0)) holes++; }
  }
  t.equal(holes, 0, 'no token after the padding starts');
  t.ok(padded > tr.count / 4, `${padded} e-mails shorter than ${SPAM_TOKENS} tokens end in padding`);
  const again = loadSpamAssassin();
  t.same(again.test.inputs[0].data, test.inputs[0].data, 'the same split every time');
  t.equal(again.test.source.sha256, test.source.sha256);
  t.throws(() => loadData('spam-assassin', { label: 'x' }), /--label x: applies to CSV sources only, not spam-assassin/);
  t.throws(() => loadData('spam-assassin', { cacheDir: '/tmp' }), /--cache-dir \/tmp: applies to criteo:FILE logs only/);
});

t.test('examples/spam.json (TTM embedding bag, 228× smaller table) learns spam from ham', { timeout: 300_000 }, async (t) => {
  t.same(JSON.parse(readFileSync(new URL('../examples/spam.json', import.meta.url), 'utf8')), spamSpec({ maxRank: 16 }), 'the example is spamSpec\'s output');
  const dir = mkdtempSync(join(tmpdir(), 'btnn-spam-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const s = await train({ spec: spamSpec({ maxRank: 16 }), data: 'spam-assassin', epochs: 5, batch: 64, lr: 3e-3, outDir: dir, log: null });
  t.ok(s.testAccuracy > 0.94, `test accuracy ${(100 * s.testAccuracy).toFixed(2)} % > 94 % (ham alone: ${(100 * 4150 / 6046).toFixed(1)} %)`);
  t.ok(s.testAuc! > 0.98, `test AUC ${s.testAuc!.toFixed(4)} > 0.98`);
  t.equal(s.tableParams, 73_728);
  await t.rejects(train({ data: 'spam-assassin', outDir: join(dir, 'nospec'), log: null }), /tokens holds 256 ids per row \(a bag of tokens\)[^]*give --spec \(e\.g\. examples\/spam\.json\)/, 'no spec: a pointer to the example');
  t.equal(s.tableCompression, SPAM_BUCKETS * 64 / 73_728);
});
