// hw-sim simulate + reports: the default TTM network on esp32-s3 (train, batch 128, 32-bit) and
// stm32h7 (infer, batch 1, 8-bit): report fields and types, totals consistent with the categories
// and with the runtime's own plan at 32 bits, train > infer, 8-bit < 32-bit, the fit verdict,
// and the text / Markdown / HTML reports (escaping, no external resources) written to a directory.
import t from 'tap';
import { validate } from './helpers/json-schema.js';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDevice } from '../hw-sim/devices.js';
import { planMemory } from '../hw-sim/plan/planner.js';
import { escapeHtml, formatSummary, toHtml, toMarkdown, writeReports } from '../hw-sim/report.js';
import { BUFFER_KINDS, simulate, type SimReport } from '../hw-sim/simulate.js';
import { prepare, timedRequests } from '../src/prepare/prepare.js';
import { planGreedy } from '../hw-sim/plan/greedy-planner.js';
import { defaultSpec } from '../src/spec/defaults.js';
import { validateSpec } from '../src/spec/validate.js';
import { tensorLayers } from '../src/spec/types.js';

const spec = defaultSpec('ttm', 20);
const esp = loadDevice('esp32-s3');
const stm = loadDevice('stm32h7');
const cases: [string, SimReport][] = [
  ['esp32-s3 train b128 32-bit', simulate({ spec, device: esp, mode: 'train', bits: 32, batch: 128 })],
  ['stm32h7 infer b1 8-bit', simulate({ spec, device: stm, mode: 'infer', bits: 8, batch: 1 })],
];
const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

for (const [label, r] of cases) {
  t.test(`${label}: report.json fields and types`, async (t) => {
    const j = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
    t.same(j, r, 'JSON round trip loses nothing');
    t.type(j.device, 'string');
    t.ok(j.mode === 'train' || j.mode === 'infer');
    t.ok([8, 16, 32].includes(j.bits as number));
    for (const k of ['batch', 'totalBytes', 'budgetBytes', 'marginBytes', 'totalMs', 'totalEnergyUj']) {
      t.ok(Number.isFinite(j[k]), `${k} is a finite number`);
    }
    t.type(j.fits, 'boolean');
    t.ok(Array.isArray(j.assumptions) && (j.assumptions as unknown[]).every((a) => typeof a === 'string'));
    const cats = j.categories as Record<string, number>;
    t.same(Object.keys(cats).sort(), [...BUFFER_KINDS].sort(), 'every kind present');
    t.equal(r.unsharedBytes, sum(Object.values(cats)), 'unsharedBytes = sum of categories');
    t.equal(r.sharedBytes, r.unsharedBytes - r.totalBytes, 'sharedBytes = unshared − total');
    t.ok(r.totalBytes <= r.unsharedBytes && r.sharedBytes >= 0, 'sharing never costs bytes');
    t.same(r.layers.map((l) => l.name), tensorLayers(spec).map((l) => l.name), 'one report layer per weight layer (fc1, fc2; not the ReLU)');
    for (const l of r.layers) {
      t.type(l.name, 'string');
      for (const k of ['bytes', 'paramBytes', 'macs', 'ms', 'energyUj'] as const) t.ok(Number.isFinite(l[k]) && l[k] >= 0, `${l.name}.${k}`);
      t.ok(l.bytes > 0 && l.macs > 0);
    }
    t.equal(r.fits, r.totalBytes <= r.budgetBytes, 'fits agrees with totalBytes <= budgetBytes');
    t.equal(r.marginBytes, r.budgetBytes - r.totalBytes);
    t.ok(r.totalBytes % 16 === 0);
  });

  t.test(`${label}: summary, Markdown and HTML`, async (t) => {
    const s = formatSummary(r);
    t.match(s, r.fits ? /\bfits\b/ : /does not fit/);
    if (r.fits) t.notMatch(s, /does not fit/);
    t.ok(s.includes(String(r.budgetBytes)), 'summary shows the budget');
    t.ok(s.includes(String(r.totalBytes)), 'summary shows the total');
    t.ok(s.includes(String(Math.abs(r.marginBytes))), 'summary shows the margin in bytes');
    for (const l of r.layers) t.match(s, new RegExp(`'${l.name}'.*${l.macs} MACs.*ms`));
    const md = toMarkdown(r);
    t.ok(md.includes(String(r.budgetBytes)));
    const html = toHtml(r);
    t.match(html, /<svg[\s>]/);
    t.equal((html.match(/<svg[\s>]/g) ?? []).length, 2, 'two charts');
    t.notMatch(html, /(?:src|href|xlink:href)\s*=\s*["']?\s*(?:https?:)?\/\//i, 'no external resource references');
    t.notMatch(html, /url\(|@import|<script|<link/i, 'no CSS url(), imports, scripts or links');
  });
}

t.test('32-bit plan equals the runtime plan; train > infer; 8-bit < 32-bit', async (t) => {
  const train32 = cases[0][1];
  t.equal(train32.totalBytes, planGreedy(timedRequests(prepare(spec, { batch: 128, mode: 'train', lanes: 1 })), 0).totalBytes, 'the runtime\'s greedy plan');
  t.equal(train32.unsharedBytes, planMemory(timedRequests(prepare(spec, { batch: 128, mode: 'train', lanes: 1 })), 0).totalBytes);
  const infer32Esp = simulate({ spec, device: esp, mode: 'infer', bits: 32, batch: 128 });
  t.ok(train32.totalBytes > infer32Esp.totalBytes, 'train > infer (esp32-s3, batch 128, 32-bit)');
  const infer8 = cases[1][1];
  const train8 = simulate({ spec, device: stm, mode: 'train', bits: 8, batch: 1 });
  t.ok(train8.totalBytes > infer8.totalBytes, 'train > infer (stm32h7, batch 1, 8-bit)');
  const infer32 = simulate({ spec, device: stm, mode: 'infer', bits: 32, batch: 1 });
  t.ok(infer8.totalBytes < infer32.totalBytes, '8-bit infer < 32-bit infer');
  t.equal(infer8.categories.meta, infer32.categories.meta, 'TTM descriptors are not scaled');
  t.equal(infer8.categories.rng, infer32.categories.rng, 'rng is not scaled');
  t.ok(infer8.categories.params <= Math.ceil(infer32.categories.params / 4 / 16) * 16 + 16, 'params about a quarter');
  t.ok(infer8.totalMs > 0 && train32.totalMs > 0);
});

t.test('layer bytes come from the declarations\' owner field: the per-layer sums are the owned buffers', async (t) => {
  const r = simulate({ spec, device: loadDevice('rpi4'), mode: 'train', bits: 32, batch: 16, lanes: 2 });
  const p = prepare(spec, { batch: 16, mode: 'train', lanes: 2 });
  for (const layer of r.layers) {
    const own = p.buffers.filter((b) => b.layer === layer.name).reduce((s, b) => s + Math.ceil(b.bytes / 16) * 16, 0);
    t.equal(layer.bytes, own, `${layer.name}: ${own} bytes`);
    t.ok(own > 0);
  }
});

t.test('HTML escapes text: escapeHtml, and a layer named with < in a report', async (t) => {
  t.throws(() => validateSpec({ ...spec, layers: spec.layers.map((l, i) => (i === 0 ? { ...l, name: 'a<b' } : l)) }), /layers\[0\]\.name = "a<b"/, 'specs reject such names');
  t.equal(escapeHtml(`<a href="x">&'</a>`), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;');
  const r = structuredClone(cases[1][1]);
  r.layers[0].name = '<img src=x onerror=alert(1)>';
  const html = toHtml(r);
  t.notOk(html.includes('<img'), 'no raw tag from the layer name');
  t.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
  t.notOk(toMarkdown(r).includes('<img'), 'Markdown escapes it too');
});

t.test('writeReports writes report.json, report.md, report.html', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = cases[0][1];
  const out = join(dir, 'sub');
  writeReports(out, r);
  t.same(readdirSync(out).sort(), ['report.html', 'report.json', 'report.md'], 'exactly three files, no temp files left');
  t.same(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')), r);
  t.equal(readFileSync(join(out, 'report.md'), 'utf8'), toMarkdown(r));
  t.equal(readFileSync(join(out, 'report.html'), 'utf8'), toHtml(r));
});

t.test('writeReports is all-or-nothing: a report that fails to render writes no file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // A history of the wrong shape (what validateRankHistory now stops before simulate) breaks the HTML only.
  const r = { ...cases[0][1], rankHistory: [{ step: 1, epoch: 0, ranks: { fc1: 3 }, params: 1, planBytes: 1 }] } as unknown as SimReport;
  t.throws(() => writeReports(join(dir, 'out'), r), TypeError);
  t.notOk(existsSync(join(dir, 'out', 'report.json')), 'no report.json beside a missing report.html');
  t.notOk(existsSync(join(dir, 'out', 'report.md')));
});

t.test('a device too small for the cheapest paths gets leaner ones (planner under the device budget)', async (t) => {
  const device = structuredClone(loadDevice('rpi4'));
  const free = simulate({ spec, device, mode: 'infer', bits: 32, batch: 1 });
  t.match(free.assumptions.join('\n'), /each layer's cheapest \(the src\/tn planner with no workspace budget\)/);
  device.budgetBytes = free.totalBytes - 16;
  const tight = simulate({ spec, device, mode: 'infer', bits: 32, batch: 1 });
  t.ok(tight.fits, `fits ${tight.totalBytes} ≤ ${device.budgetBytes} bytes with leaner paths (cheapest needed ${free.totalBytes})`);
  t.match(tight.assumptions.join('\n'), /exceeded the budget, so each layer took its cheapest path within \d+ f32 bytes/);
  t.ok(tight.totalMs >= free.totalMs, `and pays in time: ${tight.totalMs} ≥ ${free.totalMs} ms`);
});

t.test('report.json follows hw-sim/report.schema.json; broken reports are caught', async (t) => {
  const schema = JSON.parse(readFileSync(new URL('../hw-sim/report.schema.json', import.meta.url), 'utf8'));
  const history = [{ step: 0, epoch: 0, ranks: { fc1: [1, 20, 20, 16, 1] }, params: 29498, planBytes: 8000000 }, { step: 469, epoch: 1, ranks: { fc1: [1, 12, 7, 3, 1] }, params: 5346, planBytes: 7900000 }];
  for (const [device, mode, bits] of [['esp32-s3', 'train', 32], ['stm32h7', 'infer', 8], ['artix7-100t', 'infer', 16]] as const) {
    const r = simulate({ spec, device: loadDevice(device), mode, bits, batch: mode === 'train' ? 128 : 1, rankHistory: history });
    const json = JSON.parse(JSON.stringify(r));
    t.same(validate(schema, json), [], `${device} ${mode} ${bits}-bit: valid`);
  }
  const good = JSON.parse(JSON.stringify(simulate({ spec, device: loadDevice('rpi4'), mode: 'infer', bits: 32, batch: 1 })));
  const broken: [string, (r: any) => void, RegExp][] = [
    ['missing totalBytes', (r) => { delete r.totalBytes; }, /missing required "totalBytes"/],
    ['fits as a string', (r) => { r.fits = 'yes'; }, /\$\.fits: expected boolean/],
    ['unknown mode', (r) => { r.mode = 'serve'; }, /\$\.mode: "serve" is not one of/],
    ['negative layer bytes', (r) => { r.layers[0].bytes = -1; }, /\$\.layers\[0\]\.bytes: -1 < minimum 0/],
    ['a category missing', (r) => { delete r.categories.workspace; }, /\$\.categories: missing required "workspace"/],
    ['an extra field', (r) => { r.colour = 'blue'; }, /unexpected property "colour"/],
  ];
  for (const [what, mutate, message] of broken) {
    const r = structuredClone(good);
    mutate(r);
    t.match(validate(schema, r).join('\n'), message, `${what} is reported`);
  }
});
