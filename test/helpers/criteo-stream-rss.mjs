// Child of test/criteo-stream.test.ts: parses a Criteo log into the row cache and reads every
// training row once, batch by batch, the way training does (dense features, 26 hashed ids, the
// label); prints the rows read, a checksum and the process's peak RSS in bytes as JSON.
import { loadCriteo } from '../../build/js/src/data/criteo.js';
import { HashedIds } from '../../build/js/src/data/row-file.js';

const [path, cacheDir] = process.argv.slice(2);
const { train, test } = loadCriteo(path, { cacheDir });
const batch = 512;
const ids = train.inputs.slice(1).map((c) => new HashedIds(c.data, 100_000));
let rows = 0, sum = 0;
for (let r = 0; r < train.count; r += batch) {
  const end = Math.min(train.count, r + batch);
  const dense = train.inputs[0].data.subarray(r * 13, end * 13);
  for (let i = 0; i < dense.length; i += 13) sum += dense[i];
  for (const h of ids) sum += h.subarray(r, end)[0];
  const labels = train.target.data.subarray(r, end);
  for (let i = 0; i < labels.length; i++) sum += labels[i];
  rows += end - r;
}
for (const d of [train, test]) for (const c of d.inputs) c.data.close();
if (train.target.data.close) train.target.data.close();
process.stdout.write(JSON.stringify({ rows, sum, maxRssBytes: process.resourceUsage().maxRSS * 1024 }) + '\n');
