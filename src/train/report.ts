// DIR/report.html of `btnn train`: one self-contained page to look at (inline CSS and SVG, no
// scripts, no external resources): what was trained on what, how well and how fast; loss and
// accuracy per epoch; for ARD runs the parameters and every layer's ranks over the steps; the
// memory plan per buffer kind. Every string from the data goes through escapeHtml.
import { barChart, escapeHtml, kib, REPORT_CSS, type Bar } from '../../hw-sim/report.js';
import { tensorLayers, type ModelSpec, type TensorLayerSpec } from '../spec/types.js';
import { layerParams, modelParams } from '../model/layers.js';
import type { TrainSummary } from './summary.js';

const e = escapeHtml;
const TRAIN_COLOR = '#4a7ab5', TEST_COLOR = '#c62828';
const PALETTE = ['#4a7ab5', '#c62828', '#1a7f37', '#8e44ad', '#e67e22', '#00838f', '#6d4c41', '#ad1457', '#546e7a', '#9e9d24'];
const DASHES = ['', '6,3', '2,3', '9,3,2,3'];

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** A number as text; '–' for anything that is not a finite number (a malformed summary still renders). */
const num = (v: unknown, digits?: number): string => (finite(v) ? (digits === undefined ? String(v) : v.toFixed(digits)) : '–');
const pct = (v: unknown): string => (finite(v) ? `${(100 * v).toFixed(2)} %` : '–');

/** A point of a series: x, y and the tooltip of its dot. */
export interface Point { x: number; y: number; tip?: string }
export interface Series { label: string; color: string; points: Point[]; dash?: string; step?: boolean }
export interface Axis {
  label: string;
  min?: number; max?: number;
  /** Ticks at integers only (epochs, steps, ranks). */
  integer?: boolean;
  format?: (v: number) => string;
}

/** About n round tick values (1, 2 or 5 × 10^k apart) covering [lo, hi], and their spacing. */
function niceTicks(lo: number, hi: number, n: number, integer: boolean): { ticks: number[]; step: number; lo: number; hi: number } {
  if (!(hi > lo)) { const pad = Math.max(Math.abs(lo) * 0.1, integer ? 1 : 1e-3); lo -= pad; hi += pad; }
  const raw = (hi - lo) / n, p = 10 ** Math.floor(Math.log10(raw)), f = raw / p;
  let step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
  if (integer) step = Math.max(1, Math.round(step));
  const a = Math.floor(lo / step + 1e-9) * step, b = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0, v = a; v <= b + step * 1e-6 && i < 100; i++, v = a + i * step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return { ticks, step, lo: a, hi: b };
}

/** A tick value with as many decimals as its spacing needs; thousands as k, millions as M. */
function tickText(v: number, step: number): string {
  if (v === 0) return '0';
  const dec = (s: number): number => Math.max(0, Math.min(6, -Math.floor(Math.log10(s) + 1e-9)));
  if (step >= 1e6) return `${(v / 1e6).toFixed(dec(step / 1e6))}M`;
  if (step >= 1e3) return `${(v / 1e3).toFixed(dec(step / 1e3))}k`;
  return v.toFixed(dec(step));
}

/**
 * Line chart as inline SVG: axes with ticks and labels, a legend, one dot per point (a single
 * point shows as its dot), straight or step lines; a step series is held to the x axis's end.
 */
export function lineChart(caption: string, series: Series[], xAxis: Axis, yAxis: Axis, size = { width: 440, height: 260 }): string {
  const shown = series.map((s) => ({ ...s, points: s.points.filter((p) => finite(p.x) && finite(p.y)) }));
  const all = shown.flatMap((s) => s.points);
  const xs = all.map((p) => p.x), ys = all.map((p) => p.y);
  const bound = (v: number | undefined, data: number[], pick: (...a: number[]) => number, dflt: number): number => v ?? (data.length ? pick(...data) : dflt);
  const xt = niceTicks(bound(xAxis.min, xs, Math.min, 0), bound(xAxis.max, xs, Math.max, 1), 6, Boolean(xAxis.integer));
  const yt = niceTicks(bound(yAxis.min, ys, Math.min, 0), bound(yAxis.max, ys, Math.max, 1), 5, Boolean(yAxis.integer));
  const left = 62, right = 16, top = 14;
  const plotW = size.width - left - right;
  const itemW = 150, perRow = Math.max(1, Math.floor(plotW / itemW)), legendRows = Math.ceil(shown.length / perRow);
  const bottom = 44 + legendRows * 18;
  const W = size.width, H = size.height + legendRows * 18, plotH = H - top - bottom;
  const x = (v: number): number => left + ((v - xt.lo) / (xt.hi - xt.lo)) * plotW;
  const y = (v: number): number => top + (1 - (v - yt.lo) / (yt.hi - yt.lo)) * plotH;
  const f1 = (v: number): string => v.toFixed(1);
  const parts = [`<svg role="img" aria-label="${e(caption)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`, `<title>${e(caption)}</title>`];
  for (const v of yt.ticks) {
    parts.push(`<line x1="${left}" y1="${f1(y(v))}" x2="${W - right}" y2="${f1(y(v))}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${left - 6}" y="${f1(y(v) + 4)}" text-anchor="end">${e((yAxis.format ?? ((t) => tickText(t, yt.step)))(v))}</text>`);
  }
  for (const v of xt.ticks) {
    parts.push(`<line x1="${f1(x(v))}" y1="${top + plotH}" x2="${f1(x(v))}" y2="${top + plotH + 5}" stroke="#888"/>`);
    parts.push(`<text x="${f1(x(v))}" y="${top + plotH + 18}" text-anchor="middle">${e((xAxis.format ?? ((t) => tickText(t, xt.step)))(v))}</text>`);
  }
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${W - right}" y2="${top + plotH}" stroke="#888"/><line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#888"/>`);
  parts.push(`<text x="${left + plotW / 2}" y="${top + plotH + 34}" text-anchor="middle">${e(xAxis.label)}</text>`);
  parts.push(`<text transform="translate(14 ${f1(top + plotH / 2)}) rotate(-90)" text-anchor="middle">${e(yAxis.label)}</text>`);
  for (const s of shown) {
    const dash = s.dash ? ` stroke-dasharray="${e(s.dash)}"` : '';
    const pts: string[] = [];
    s.points.forEach((p, i) => {
      if (s.step && i > 0) pts.push(`${f1(x(p.x))},${f1(y(s.points[i - 1].y))}`);
      pts.push(`${f1(x(p.x))},${f1(y(p.y))}`);
    });
    const last = s.points[s.points.length - 1];
    if (s.step && last && xAxis.max !== undefined && xAxis.max > last.x) pts.push(`${f1(x(xAxis.max))},${f1(y(last.y))}`);
    if (pts.length > 1) parts.push(`<polyline fill="none" stroke="${e(s.color)}" stroke-width="2"${dash} points="${pts.join(' ')}"/>`);
    for (const p of s.points) {
      parts.push(`<circle cx="${f1(x(p.x))}" cy="${f1(y(p.y))}" r="3.5" fill="${e(s.color)}"><title>${e(p.tip ?? `${s.label}: ${p.y}`)}</title></circle>`);
    }
  }
  shown.forEach((s, i) => {
    const lx = left + (i % perRow) * itemW, ly = top + plotH + 50 + Math.floor(i / perRow) * 18;
    const dash = s.dash ? ` stroke-dasharray="${e(s.dash)}"` : '';
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="${e(s.color)}" stroke-width="2"${dash}/><circle cx="${lx + 11}" cy="${ly - 4}" r="3" fill="${e(s.color)}"/>`);
    parts.push(`<text x="${lx + 28}" y="${ly}">${e(s.label)}</text>`);
  });
  parts.push('</svg>');
  return `<figure>${parts.join('')}<figcaption>${e(caption)}</figcaption></figure>`;
}

/** The state of the model at one step of an ARD run. */
interface ArdPoint { step: number; epoch: number; params: number; ranks: Record<string, number[]>; label: string }

const ranksOf = (spec: ModelSpec): Record<string, number[]> =>
  Object.fromEntries(tensorLayers(spec).filter((l) => l.ranks).map((l) => [l.name, l.ranks as number[]]));
const rankText = (ranks: Record<string, number[]>): string => Object.entries(ranks).map(([l, r]) => `${l} [${r.join(',')}]`).join(', ');

/**
 * The model over an ARD run's steps: the start (the initial spec when given; else the first
 * epoch's record), each epoch's end and every pruning event, in step order (at equal steps the
 * pruning event is kept: it is the later state).
 */
function ardTimeline(s: TrainSummary, stepsPerEpoch: number, initialSpec?: ModelSpec): { points: ArdPoint[]; fromStart: boolean } {
  const byStep = new Map<number, ArdPoint>();
  if (initialSpec) byStep.set(0, { step: 0, epoch: 0, params: modelParams(initialSpec), ranks: ranksOf(initialSpec), label: 'start' });
  for (const h of s.history ?? []) {
    if (!finite(h.params) || !h.ranks) continue;
    const step = h.epoch * stepsPerEpoch;
    if (!byStep.has(step)) byStep.set(step, { step, epoch: h.epoch, params: h.params, ranks: h.ranks, label: `end of epoch ${h.epoch}` });
  }
  for (const p of s.pruneEvents ?? []) byStep.set(p.step, { step: p.step, epoch: p.epoch, params: p.params, ranks: p.ranks, label: `pruned in epoch ${p.epoch}` });
  return { points: [...byStep.values()].sort((a, b) => a.step - b.step), fromStart: Boolean(initialSpec) };
}

function layerRow(l: TensorLayerSpec): string {
  const dense = l.kind === 'embedding' ? l.rows * l.dim : l.inFeatures * l.outFeatures + l.outFeatures;
  const params = layerParams(l);
  const modes = l.inModes && l.outModes ? `${l.inModes.join('×')} → ${l.outModes.join('×')}` : '';
  return `<tr><td>${e(l.name)}</td><td>${e(l.kind)}</td><td>${e(l.format)}</td><td>${e(`${l.inFeatures} × ${l.outFeatures}`)}</td><td>${e(modes)}</td>`
    + `<td>${e(l.ranks ? `[${l.ranks.join(', ')}]` : '')}</td><td>${params}</td><td>${dense}</td><td>${e(num(dense / params, 2))}×</td></tr>`;
}

/**
 * The training report: a self-contained HTML page (inline CSS and SVG only) of a finished run.
 * `spec` is the trained (final) network; `opts.initialSpec`, the network the run started from,
 * gives ARD charts their step-0 point (without it they start at the first recorded epoch end or
 * pruning event).
 */
export function trainingReportHtml(summary: TrainSummary, spec: ModelSpec, opts: { initialSpec?: ModelSpec } = {}): string {
  const s = summary;
  const history = s.history ?? [];
  const layers = tensorLayers(spec);
  const epochAxis = (n: number): Axis => ({ label: 'epoch', integer: true, min: n <= 1 ? 0 : 1, max: n <= 1 ? 2 : n });
  const nEpochs = Math.max(s.epochs ?? 0, ...history.map((h) => h.epoch));
  const tip = (what: string, epoch: number, v: string): string => `epoch ${epoch}: ${what} ${v}`;
  const lossChart = lineChart('Loss per epoch', [
    { label: 'train loss', color: TRAIN_COLOR, points: history.map((h) => ({ x: h.epoch, y: h.trainLoss, tip: tip('train loss', h.epoch, num(h.trainLoss, 4)) })) },
    { label: 'test loss', color: TEST_COLOR, dash: '6,3', points: history.map((h) => ({ x: h.epoch, y: h.testLoss, tip: tip('test loss', h.epoch, num(h.testLoss, 4)) })) },
  ], epochAxis(nEpochs), { label: `loss (${spec.loss.kind})` });
  const accChart = lineChart('Accuracy per epoch', [
    { label: 'train accuracy', color: TRAIN_COLOR, points: history.map((h) => ({ x: h.epoch, y: 100 * h.trainAccuracy, tip: tip('train accuracy', h.epoch, pct(h.trainAccuracy)) })) },
    { label: 'test accuracy', color: TEST_COLOR, dash: '6,3', points: history.map((h) => ({ x: h.epoch, y: 100 * h.testAccuracy, tip: tip('test accuracy', h.epoch, pct(h.testAccuracy)) })) },
  ], epochAxis(nEpochs), { label: 'accuracy (%)' });

  let ard = '';
  if (s.pruneEvents) {
    const stepsPerEpoch = Math.max(1, Math.ceil((s.trainSamples ?? 0) / Math.max(1, s.batch ?? 1)));
    const totalSteps = Math.max(nEpochs * stepsPerEpoch, ...s.pruneEvents.map((p) => p.step));
    const { points, fromStart } = ardTimeline(s, stepsPerEpoch, opts.initialSpec);
    const stepAxis: Axis = { label: 'training step', integer: true, min: 0, max: totalSteps };
    const from = fromStart || points.length === 0 ? '' : ` (from step ${points[0].step}: the start was not recorded)`;
    const paramsChart = lineChart(`Parameters over training steps${from}`, [
      { label: 'parameters', color: TRAIN_COLOR, step: true, points: points.map((p) => ({ x: p.step, y: p.params, tip: `step ${p.step} (${p.label}): ${p.params} params; ${rankText(p.ranks)}` })) },
    ], stepAxis, { label: 'parameters', min: 0 });
    const names = [...new Set([...layers.filter((l) => l.ranks).map((l) => l.name), ...points.flatMap((p) => Object.keys(p.ranks))])];
    const rankSeries: Series[] = names.flatMap((name, li) => {
      const width = Math.max(0, ...points.map((p) => p.ranks[name]?.length ?? 0));
      // Ranks numbered from 0 as in r_0 … r_d; a rank that is 1 throughout (TT's boundaries) is left out.
      return Array.from({ length: width }, (_, k): Series => ({
        label: width > 1 ? `${name} r${k}` : `${name} rank`, color: PALETTE[li % PALETTE.length], dash: DASHES[k % DASHES.length], step: true,
        points: points.filter((p) => finite(p.ranks[name]?.[k])).map((p) => ({ x: p.step, y: p.ranks[name][k], tip: `step ${p.step}: ${name} r${k} = ${p.ranks[name][k]}` })),
      })).filter((series) => series.points.some((p) => p.y !== 1));
    });
    const ranksChart = lineChart(`Ranks of each layer over training steps${from}`, rankSeries, stepAxis, { label: 'rank', min: 0, integer: true }, { width: 896, height: 300 });
    const rows = points.map((p) => `<tr><td>${p.step}</td><td>${p.epoch}</td><td>${e(p.label)}</td><td>${p.params}</td><td>${e(rankText(p.ranks))}</td></tr>`).join('\n');
    ard = `<h2>Rank determination${s.inference ? ` (${e(s.inference)}, κ = ${e(num(s.kl))})` : ''}</h2>
<div class="charts">
${paramsChart}
</div>
<div class="charts">
${ranksChart}
</div>
<details><summary>${s.pruneEvents.length} pruning event${s.pruneEvents.length === 1 ? '' : 's'}</summary>
<table>
<tr><th>step</th><th>epoch</th><th>event</th><th>params</th><th>ranks</th></tr>
${rows}
</table>
</details>`;
  }

  const kinds = Object.entries(s.bytesByKind ?? {}).filter(([, v]) => finite(v) && v > 0);
  const memBars: Bar[] = [
    { label: 'plan total', value: finite(s.planBytes) ? s.planBytes : 0, text: `${num(s.planBytes)} B (${finite(s.planBytes) ? kib(s.planBytes) : '–'} KiB)` },
    ...kinds.map(([k, v]) => ({ label: k, value: v, text: `${v} B (${kib(v)} KiB)` })),
  ];
  const memChart = barChart('Memory plan bytes per buffer kind (buffers never live together share bytes, so the kinds can add up to more than the total)', memBars);

  const epochRows = history.map((h) => `<tr><td>${h.epoch}</td><td>${e(num(h.trainLoss, 4))}</td><td>${e(pct(h.trainAccuracy))}</td><td>${e(num(h.testLoss, 4))}</td><td>${e(pct(h.testAccuracy))}</td><td>${e(num(h.seconds, 1))}</td>${s.pruneEvents ? `<td>${e(num(h.params))}</td>` : ''}</tr>`).join('\n');
  const source = (label: string, d: TrainSummary['data']['train'] | undefined): string =>
    d ? `<tr><th>${e(label)}</th><td>${e(`${d.kind} ${d.path}`)}${d.label ? e(`, label ${d.label}`) : ''}</td><td>${e(`${num(d.rows)} rows`)}</td></tr>` : '';
  const title = `btnn train: ${s.dataset}, ${layers.map((l) => l.format).filter((f, i, a) => a.indexOf(f) === i).join('/') || s.format}, ${num(s.epochs)} epoch${s.epochs === 1 ? '' : 's'}`;
  const warnings = s.warnings?.length ? `<h2>Warnings</h2>\n<ul>\n${s.warnings.map((w) => `<li>${e(w)}</li>`).join('\n')}\n</ul>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${e(title)}</title>
<style>
${REPORT_CSS}.charts { display: flex; flex-wrap: wrap; gap: 0 1em; }
.big { font-size: 1.6em; font-weight: bold; }
.facts { display: flex; flex-wrap: wrap; gap: 0.5em 2.5em; margin: 1em 0; }
.facts div span { display: block; color: #666; font-size: 0.85em; }
th { text-align: left; }
.info td { text-align: left; }
</style>
</head>
<body>
<h1>${e(title)}</h1>
<div class="facts">
<div><span>test accuracy</span><b class="big">${e(pct(s.testAccuracy))}</b></div>
<div><span>test loss</span><b class="big">${e(num(s.testLoss, 4))}</b></div>
<div><span>parameters (dense)</span><b class="big">${e(num(s.params))}</b> (${e(num(s.denseParams))})</div>
<div><span>compression</span><b class="big">${e(num(s.compression, 2))}×</b></div>
<div><span>training throughput</span><b class="big">${e(num(s.trainSamplesPerSec, 0))}</b> samples/s</div>
</div>
<table class="info">
<tr><th>dataset</th><td>${e(s.dataset)}</td><td>${e(`${num(s.trainSamples)} train / ${num(s.testSamples)} test rows`)}</td></tr>
${source('train data', s.data?.train)}
${source('test data', s.data?.test)}
<tr><th>training</th><td>${e(`${num(s.epochs)} epochs, batch ${num(s.batch)}, lr ${num(s.lr)} (${s.schedule}), seed ${num(s.seed)}`)}</td><td>${e(`${num(s.trainSeconds, 1)} s`)}</td></tr>
<tr><th>core</th><td>${e(`${s.flavour}, ${num(s.lanes)} lanes, ${num(s.threads)} threads`)}</td><td>${e(`plan ${num(s.planBytes)} B, WASM ${num(s.wasmMemoryBytes)} B`)}</td></tr>
</table>
<h2>Model</h2>
<table>
<tr><th>layer</th><th>kind</th><th>format</th><th>in × out</th><th>modes</th><th>ranks</th><th>params</th><th>dense</th><th>compression</th></tr>
${layers.map(layerRow).join('\n')}
</table>
<h2>Training</h2>
<div class="charts">
${lossChart}
${accChart}
</div>
<details><summary>${history.length} epoch${history.length === 1 ? '' : 's'}</summary>
<table>
<tr><th>epoch</th><th>train loss</th><th>train accuracy</th><th>test loss</th><th>test accuracy</th><th>seconds</th>${s.pruneEvents ? '<th>params</th>' : ''}</tr>
${epochRows}
</table>
</details>
${ard}
<h2>Memory plan</h2>
${memChart}
${warnings}
</body>
</html>
`;
}
