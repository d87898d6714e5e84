// Streaming in bounded memory: a Criteo log is parsed in 4 MiB chunks into the row cache and read
// back a row at a time, so peak RSS must not grow with the file. Two generated logs, one 8× the
// other, are parsed and read whole in a child process each; the larger costs at most a few MiB
// more peak RSS, far less than its size (which a whole-file read would add, and more).
import t from 'tap';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { synthCriteo } from '../src/data/synth-criteo.js';

const CHILD = join(import.meta.dirname, 'helpers', 'criteo-stream-rss.mjs');
const SMALL = [1460, 583, 30000, 20000, 305, 24, 1251, 633, 3, 931, 568, 25000, 319, 27, 1499, 22000, 10, 565, 217, 4, 28000, 18, 15, 2861, 105, 1425];
const MIB = 2 ** 20;

t.test('parsing and reading a log whole: peak RSS does not grow with the file', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-stream-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const run = (rows: number): { rows: number; maxRssBytes: number; fileBytes: number } => {
    const path = join(dir, `log${rows}.tsv`);
    synthCriteo({ rows, seed: 3, out: path, cardinalities: SMALL });
    const r = spawnSync(process.execPath, [CHILD, path, join(dir, 'cache')], { encoding: 'utf8' });
    t.equal(r.status, 0, `child read ${rows} rows: ${r.stderr.slice(0, 300)}`);
    return { ...JSON.parse(r.stdout), fileBytes: statSync(path).size };
  };
  const small = run(30_000), big = run(240_000);
  t.equal(small.rows, 30_000 - Math.ceil(30_000 / 7), 'every training row read');
  t.equal(big.rows, 240_000 - Math.ceil(240_000 / 7), 'every training row read');
  const grew = big.maxRssBytes - small.maxRssBytes, fileGrew = big.fileBytes - small.fileBytes;
  t.ok(fileGrew > 30 * MIB, `the larger log is ${(fileGrew / MIB).toFixed(1)} MiB more text`);
  t.ok(grew < 12 * MIB, `peak RSS ${(small.maxRssBytes / MIB).toFixed(1)} → ${(big.maxRssBytes / MIB).toFixed(1)} MiB: grew ${(grew / MIB).toFixed(1)} MiB for ${(fileGrew / MIB).toFixed(1)} MiB more log`);
});
