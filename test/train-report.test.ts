// DIR/report.html of `btnn train` from hand-built summaries (1 and 3 epochs, with and without ARD
// pruning events): self-contained (no scripts, no external URLs), the right charts, every string
// from the data escaped, the headline numbers present; and, where Debian's chromium is installed,
// it renders to a screenshot that is not blank.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { trainingReportHtml } from '../src/train/report.js';
import type { EpochLog, PruneEvent, TrainSummary } from '../src/train/train.js';
import { defaultSpec } from '../src/spec/defaults.js';
import { modelParams, denseParams } from '../src/model/layers.js';
import type { ModelSpec } from '../src/spec/types.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const NASTY = '<x>&"';

/** The default TTM network with fc1's inner ranks set to r (the ARD runs' final network). */
function withRanks(r: number[]): ModelSpec {
  const spec = defaultSpec('ttm', 20);
  return { ...spec, layers: spec.layers.map((l) => (l.name === 'fc1' && l.kind === 'linear' ? { ...l, ranks: [1, ...r, 1] } : l)) };
}

function summary(epochs: number, ard: boolean): { s: TrainSummary; spec: ModelSpec; initial: ModelSpec } {
  const initial = defaultSpec('ttm', 20);
  const cuts = [[20, 20, 16], [12, 9, 8], [8, 6, 5]];
  const spec = ard ? withRanks(cuts[Math.min(epochs, 2)]) : initial;
  const ranksAt = (i: number): Record<string, number[]> => ({ fc1: [1, ...cuts[Math.min(i, 2)], 1], fc2: [1, 20, 1] });
  const stepsPerEpoch = Math.ceil(6000 / 128);
  const history: EpochLog[] = Array.from({ length: epochs }, (_, i) => ({
    epoch: i + 1, trainLoss: 0.9 / (i + 1), trainAccuracy: 0.8 + 0.05 * i, testLoss: 0.8 / (i + 1) + 0.01, testAccuracy: 0.85 + 0.04 * i + 0.0123, seconds: 3.5,
    ...(ard ? { kl: 100 - i, beta: 1e-5, ranks: ranksAt(i + 1), params: modelParams(withRanks(cuts[Math.min(i + 1, 2)])) } : {}),
  }));
  const pruneEvents: PruneEvent[] = ard ? history.map((h, i) => ({ step: (i + 1) * stepsPerEpoch, epoch: h.epoch, ranks: h.ranks!, params: h.params!, planBytes: 400000 - 10000 * i })) : [];
  const source = (split: 'train' | 'test', rows: number) => ({ kind: 'idx' as const, path: `/data/${NASTY}/${split}`, sha256: '0'.repeat(64), split, rows });
  const last = history[history.length - 1];
  const params = modelParams(spec), dense = denseParams(spec);
  const s: TrainSummary = {
    dataset: NASTY, data: { train: source('train', 60000), test: source('test', 10000) }, format: 'ttm', epochs, seed: 1, batch: 128, lr: 1e-3, schedule: 'cosine',
    maxRank: 20, trainSamples: 6000, testSamples: 1000, testAccuracy: last.testAccuracy, testLoss: last.testLoss, params, denseParams: dense, compression: dense / params,
    ranks: Object.fromEntries(spec.layers.filter((l) => 'ranks' in l && l.ranks).map((l) => [l.name, (l as { ranks: number[] }).ranks])),
    flopsPerSample: { forward: 1e5, backward: 2e5 }, trainSamplesPerSec: 12345.6, trainSeconds: 3.5 * epochs, planBytes: 390000, wasmMemoryBytes: 2 ** 22,
    bytesByKind: { params: 120000, grads: 120000, adam: 240000, activations: 50000, workspace: 0 }, flavour: 'node', lanes: 4, threads: 2, history,
    ...(ard ? { inference: 'svi' as const, kl: 5e-5, pruneEvents, warnings: [`a warning about ${NASTY}`] } : {}),
  };
  return { s, spec, initial };
}

const count = (html: string, what: string): number => html.split(what).length - 1;

function selfContained(t: Test, html: string): void {
  t.notOk(/<script/i.test(html), 'no <script');
  t.notOk(/https?:\/\//i.test(html), 'no http:// or https:// URL');
  t.notOk(/url\(/i.test(html), 'no url(');
  t.notOk(/@import|<link|<img|<iframe/i.test(html), 'no @import, link, img or iframe');
}

for (const epochs of [1, 3]) {
  for (const ard of [false, true]) {
    t.test(`report of ${epochs} epoch(s)${ard ? ', ARD' : ''}`, async (t) => {
      const { s, spec, initial } = summary(epochs, ard);
      const html = trainingReportHtml(s, spec, ard ? { initialSpec: initial } : {});
      t.ok(html.startsWith('<!DOCTYPE html>'), 'an HTML page');
      t.equal(count(html, '<svg'), ard ? 5 : 3, 'loss, accuracy, memory (+ params and ranks for ARD)');
      t.equal(count(html, '<svg'), count(html, '</svg>'), 'every svg closed');
      selfContained(t, html);
      t.notOk(html.includes(NASTY), 'the raw dataset name never appears');
      t.ok(html.includes('&lt;x&gt;&amp;&quot;'), 'the dataset name appears escaped');
      t.ok(html.includes(`/data/&lt;x&gt;&amp;&quot;/train`), 'the data path appears escaped');
      t.ok(html.includes(`${(100 * s.testAccuracy).toFixed(2)} %`), `final accuracy ${(100 * s.testAccuracy).toFixed(2)} %`);
      t.ok(html.includes(s.testLoss.toFixed(4)), 'final loss');
      t.ok(html.includes(String(s.params)) && html.includes(String(s.denseParams)), 'params and dense params');
      t.ok(html.includes(`${s.compression.toFixed(2)}×`), 'compression');
      t.ok(html.includes('12346'), 'throughput (samples/s)');
      for (const name of ['fc1', 'fc2']) t.ok(html.includes(`<td>${name}</td>`), `layer ${name} in the model table`);
      t.ok(html.includes('[1, 20, 1]'), 'ranks in the model table');
      t.ok(html.includes('train loss') && html.includes('test accuracy'), 'legends');
      // One dot per epoch per series in the loss and accuracy charts (each has a tooltip "epoch N: …").
      t.equal(count(html, '<title>epoch '), 4 * epochs, 'one dot per epoch and series');
      t.ok(html.includes('adam') && html.includes('activations'), 'memory kinds');
      t.notOk(/>workspace</.test(html), 'an empty kind is not drawn');
      if (ard) {
        t.ok(html.includes('Parameters over training steps'), 'params chart');
        t.notOk(html.includes('the start was not recorded'), 'with the initial spec, the charts start at step 0');
        t.ok(html.includes(`step 0 (start): ${modelParams(initial)} params`), 'the start point');
        t.ok(html.includes('fc1 r1') && html.includes('fc2 r1'), 'rank series per layer');
        t.notOk(html.includes('fc1 r0'), 'TT boundary ranks (1 throughout) are left out');
        t.ok(html.includes('a warning about &lt;x&gt;'), 'warnings, escaped');
      } else {
        t.notOk(html.includes('Rank determination'), 'no ARD section');
      }
    });
  }
}

t.test('ARD without the initial spec starts at the first record and says so', async (t) => {
  const { s, spec } = summary(3, true);
  const html = trainingReportHtml(s, spec);
  t.equal(count(html, '<svg'), 5);
  t.ok(html.includes('the start was not recorded'));
  t.notOk(html.includes('step 0 ('), 'no invented step-0 point');
});

t.test('a malformed summary (non-finite numbers, no history) still renders', async (t) => {
  const { s, spec } = summary(1, false);
  const html = trainingReportHtml({ ...s, history: [], testAccuracy: NaN, testLoss: Infinity, bytesByKind: {} }, spec);
  t.equal(count(html, '<svg'), 3);
  t.notOk(html.includes('NaN'), 'no NaN in the page');
  selfContained(t, html);
});

t.test('report.html renders in headless Chromium to a non-trivial screenshot', { skip: CHROMIUM ? false : 'chromium is not installed (Debian package "chromium"; .ci/run installs it)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-train-shot-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { s, spec, initial } = summary(3, true);
  const html = join(dir, 'report.html');
  writeFileSync(html, trainingReportHtml(s, spec, { initialSpec: initial }));
  const png = join(dir, 'shot.png');
  const r = spawnSync(CHROMIUM!, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${join(dir, 'profile')}`,
    '--window-size=1000,1600', `--screenshot=${png}`, pathToFileURL(html).href], { encoding: 'utf8', timeout: 60_000 });
  t.ok(existsSync(png), `chromium wrote a screenshot (status ${r.status}; ${r.stderr.split('\n').slice(-2).join(' ')})`);
  if (!existsSync(png)) return;
  const size = statSync(png).size;
  t.ok(size > 10_000, `screenshot is ${size} bytes > 10 kB`);
  const keep = process.env.BTNN_KEEP_SHOT; // a path: keep the screenshot and the page, to look at them
  if (keep) { copyFileSync(png, keep); copyFileSync(html, `${keep}.html`); }
});
