// FileBytes: a column read from its file where it lies equals the bytes in memory, row views,
// copies and chunks alike; a file that shrinks under it is an error, not silent zeros.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBytes, forEachChunk } from '../src/data/file-bytes.js';

t.test('views, copies and chunks equal the file\'s bytes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-fb-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bytes = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7 + (i >> 8)) & 255);
  const path = join(dir, 'f');
  writeFileSync(path, Buffer.concat([Buffer.from('HEADER!!'), bytes]));
  const f = new FileBytes(path, 8, bytes.length);
  t.equal(f.length, bytes.length);
  for (const [s, e] of [[0, 784], [784 * 7, 784 * 8], [99_000, 100_000], [5, 5]]) t.same(Array.from(f.subarray(s, e)), Array.from(bytes.subarray(s, e)), `[${s}, ${e})`);
  t.same(Array.from(f.slice(10, 20)), Array.from(bytes.subarray(10, 20)));
  const seen: number[] = [];
  forEachChunk(f, (c) => { for (const b of c) seen.push(b); });
  t.same(seen.length, bytes.length);
  t.ok(seen.every((b, i) => b === bytes[i]), 'chunks cover every byte in order');
  truncateSync(path, 1000);
  t.throws(() => f.subarray(50_000, 50_784), /ended at byte .*the file changed while btnn read it/);
  f.close();
});
