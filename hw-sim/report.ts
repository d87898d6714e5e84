// Reports of a SimReport: a TFLM-style text allocation summary, Markdown, and a self-contained
// HTML page (inline CSS and SVG, no scripts, no external resources). Every piece of text that
// reaches HTML goes through escapeHtml; Markdown table cells go through escapeMd.

import { join } from 'node:path';
import { writeFileAtomic } from '../src/io/atomic.js';
import { BUFFER_KINDS, type SimReport } from './simulate.js';

/** Bytes as KiB with one decimal. */
export const kib = (n: number): string => (n / 1024).toFixed(1);
const fmtMs = (ms: number): string => (ms >= 100 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(3) : ms.toPrecision(3));
const pct = (n: number, of: number): string => (of > 0 ? ((100 * n) / of).toFixed(1) : '0.0');

/** One line saying whether the plan fits, and by how much (bytes and KiB). */
export function fitLine(r: SimReport): string {
  return r.fits
    ? `fits: ${r.marginBytes} bytes (${kib(r.marginBytes)} KiB) to spare`
    : `does not fit: over budget by ${-r.marginBytes} bytes (${kib(-r.marginBytes)} KiB)`;
}

const title = (r: SimReport): string => `${r.device}, ${r.mode}, batch ${r.batch}, ${r.bits}-bit`;

/** TFLM-style allocation summary (in the manner of RecordingMicroAllocator::PrintAllocations). */
export function formatSummary(r: SimReport): string {
  const lines: string[] = [];
  lines.push(`[btnn hw-sim] ${title(r)} (${r.deviceName})`);
  lines.push(`[btnn hw-sim] Arena allocation total ${r.totalBytes} bytes (${kib(r.totalBytes)} KiB); buffers never live together share ${r.sharedBytes} bytes (unshared: ${r.unsharedBytes})`);
  lines.push(`[btnn hw-sim] Budget ${r.budgetBytes} bytes (${kib(r.budgetBytes)} KiB): ${fitLine(r)}`);
  if (r.bits !== 32) lines.push(`[btnn hw-sim] ${r.bits}-bit runtime plan is a projection (Node training computes in f32); the exported module's figures below are exact`);
  for (const k of BUFFER_KINDS) {
    const bytes = r.categories[k];
    const n = r.buffers.filter((b) => b.kind === k).length;
    if (n === 0) continue;
    const requested = r.buffers.filter((b) => b.kind === k).reduce((s, b) => s + b.bytes, 0);
    lines.push(`[btnn hw-sim] '${k}' used ${bytes} bytes with alignment overhead (requested ${requested} bytes for ${n} allocation${n === 1 ? '' : 's'}), ${pct(bytes, r.totalBytes)}% of total`);
  }
  for (const l of r.layers) {
    lines.push(`[btnn hw-sim] layer '${l.name}' used ${l.bytes} bytes (+ ${l.paramBytes} bytes of params), ${l.macs} MACs, est. ${fmtMs(l.ms)} ms (${l.bound}-bound)`);
  }
  lines.push(`[btnn hw-sim] Estimated time ${fmtMs(r.totalMs)} ms, energy ${r.totalEnergyUj.toFixed(1)} uJ per ${r.mode === 'train' ? 'training step' : 'batch'} (roofline lower bound)`);
  const d = r.deployment;
  if (d) {
    lines.push(`[btnn hw-sim] Exported module (btnn export --bits ${r.bits}, one row): ${d.weightsBytes} weight + ${d.tablesBytes} bias/table + ${d.programBytes} program bytes ${d.flashBudgetBytes === null ? 'in RAM (no flash for weights)' : `in flash (${d.flashBudgetBytes} bytes): ${d.fitsFlash ? 'fits' : 'does not fit'}`}; arena ${d.arenaBytes} bytes, ${d.ramBytes} bytes of RAM (budget ${d.ramBudgetBytes}): ${d.fitsRam ? 'fits' : 'does not fit'}`);
    if (!d.fitsFlash || !d.fitsRam) lines.push(`[btnn hw-sim] biggest consumer of ${d.fitsFlash ? 'RAM' : 'flash'}: ${d.biggest.name} (${d.biggest.bytes} bytes)`);
    lines.push(`[btnn hw-sim] Verdict (the exported module's, as the C export places it; a model.wasm keeps its data in linear memory, i.e. RAM): ${d.fitsFlash && d.fitsRam ? 'fits' : 'does not fit'}`);
  }
  return lines.join('\n') + '\n';
}

/** Markdown-safe text: HTML-significant characters as entities, Markdown syntax backslash-escaped. */
export function escapeMd(s: string): string {
  return s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c] as string).replace(/[\\|`*_[\]]/g, (c) => `\\${c}`);
}

export function toMarkdown(r: SimReport): string {
  const out: string[] = [];
  out.push(`# Memory and cost: ${escapeMd(title(r))}`, '');
  out.push(`Device: ${escapeMd(r.deviceName)}`, '');
  out.push(`- Total: ${r.totalBytes} bytes (${kib(r.totalBytes)} KiB)`);
  out.push(`- Budget: ${r.budgetBytes} bytes (${kib(r.budgetBytes)} KiB)`);
  out.push(`- **${fitLine(r)}**`);
  out.push(`- Estimated time: ${fmtMs(r.totalMs)} ms; energy: ${r.totalEnergyUj.toFixed(1)} µJ`, '');
  out.push('## Bytes per kind', '', '| kind | bytes | KiB | % of total |', '|---|---:|---:|---:|');
  for (const k of BUFFER_KINDS) out.push(`| ${k} | ${r.categories[k]} | ${kib(r.categories[k])} | ${pct(r.categories[k], r.totalBytes)} |`);
  out.push('', '## Layers', '', '| layer | bytes | param bytes | MACs | est. ms | bound | energy µJ |', '|---|---:|---:|---:|---:|---|---:|');
  for (const l of r.layers) {
    out.push(`| ${escapeMd(l.name)} | ${l.bytes} | ${l.paramBytes} | ${l.macs} | ${fmtMs(l.ms)} | ${l.bound} | ${l.energyUj.toFixed(2)} |`);
  }
  out.push('', '## Assumptions', '', ...r.assumptions.map((a) => `- ${escapeMd(a)}`), '');
  return out.join('\n');
}

/** The reports' stylesheet (inline in each page: no external resources). */
export const REPORT_CSS = `body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 60em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; }
td:not(:first-child) { text-align: right; font-variant-numeric: tabular-nums; }
svg text { font-size: 12px; font-family: system-ui, sans-serif; }
.fits { color: #1a7f37; font-weight: bold; }
.nofit { color: #c62828; font-weight: bold; }
figure { margin: 1em 0; }
`;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** One bar of barChart: its label, its length and the text written after it. */
export interface Bar { label: string; value: number; text: string }

/** Horizontal bar chart as inline SVG; `marker` draws a dashed vertical line (e.g. the budget). */
export function barChart(caption: string, bars: Bar[], marker?: { value: number; label: string; color: string }): string {
  const labelW = 150, barW = 420, textW = 180, rowH = 22, top = marker ? 24 : 8;
  const width = labelW + barW + textW;
  const height = top + bars.length * rowH + 8;
  const max = Math.max(1, marker?.value ?? 0, ...bars.map((b) => b.value));
  const x = (v: number) => labelW + (v / max) * barW;
  const parts: string[] = [];
  parts.push(`<svg role="img" aria-label="${escapeHtml(caption)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`);
  parts.push(`<title>${escapeHtml(caption)}</title>`);
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const w = Math.max(b.value > 0 ? 1 : 0, x(b.value) - labelW);
    parts.push(`<text x="${labelW - 6}" y="${y + 15}" text-anchor="end">${escapeHtml(b.label)}</text>`);
    parts.push(`<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="#4a7ab5"><title>${escapeHtml(`${b.label}: ${b.text}`)}</title></rect>`);
    parts.push(`<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 15}">${escapeHtml(b.text)}</text>`);
  });
  if (marker) {
    const mx = x(marker.value).toFixed(1);
    parts.push(`<line x1="${mx}" y1="${top - 6}" x2="${mx}" y2="${height - 4}" stroke="${marker.color}" stroke-width="2" stroke-dasharray="5,3"/>`);
    parts.push(`<text x="${mx}" y="${top - 10}" text-anchor="middle" fill="${marker.color}">${escapeHtml(marker.label)}</text>`);
  }
  parts.push('</svg>');
  return `<figure>${parts.join('')}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

/** Parameters (left axis) over training steps as an inline SVG step line, one dot per event, with the ranks in each dot's tooltip. */
function historyChart(caption: string, h: NonNullable<SimReport['rankHistory']>): string {
  const W = 640, H = 220, left = 70, right = 20, top = 16, bottom = 36;
  const maxStep = Math.max(1, ...h.map((p) => p.step)), maxParams = Math.max(1, ...h.map((p) => p.params));
  const x = (s: number) => left + (s / maxStep) * (W - left - right);
  const y = (v: number) => top + (1 - v / maxParams) * (H - top - bottom);
  const pts: string[] = [];
  h.forEach((p, i) => { if (i > 0) pts.push(`${x(p.step).toFixed(1)},${y(h[i - 1].params).toFixed(1)}`); pts.push(`${x(p.step).toFixed(1)},${y(p.params).toFixed(1)}`); });
  const parts = [`<svg role="img" aria-label="${escapeHtml(caption)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`, `<title>${escapeHtml(caption)}</title>`];
  parts.push(`<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="#888"/><line x1="${left}" y1="${top}" x2="${left}" y2="${H - bottom}" stroke="#888"/>`);
  parts.push(`<text x="${left - 6}" y="${top + 4}" text-anchor="end">${maxParams}</text><text x="${left - 6}" y="${H - bottom}" text-anchor="end">0</text>`);
  parts.push(`<text x="${W - right}" y="${H - bottom + 16}" text-anchor="end">step ${maxStep}</text><text x="${left}" y="${H - bottom + 16}">0</text>`);
  parts.push(`<polyline fill="none" stroke="#4a7ab5" stroke-width="2" points="${pts.join(' ')}"/>`);
  for (const p of h) {
    const ranks = Object.entries(p.ranks).map(([l, r]) => `${l} [${r.join(',')}]`).join(', ');
    parts.push(`<circle cx="${x(p.step).toFixed(1)}" cy="${y(p.params).toFixed(1)}" r="4" fill="#c62828"><title>${escapeHtml(`step ${p.step}: ${p.params} params, ${ranks}`)}</title></circle>`);
  }
  parts.push('</svg>');
  return `<figure>${parts.join('')}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

export function toHtml(r: SimReport): string {
  const e = escapeHtml;
  const kindBars: Bar[] = [
    { label: 'total', value: r.totalBytes, text: `${r.totalBytes} B (${kib(r.totalBytes)} KiB)` },
    ...BUFFER_KINDS.filter((k) => r.categories[k] > 0).map((k) => ({ label: k, value: r.categories[k], text: `${r.categories[k]} B (${kib(r.categories[k])} KiB)` })),
  ];
  const macBars: Bar[] = r.layers.map((l) => ({ label: l.name, value: l.macs, text: `${l.macs} MACs` }));
  const kindRows = BUFFER_KINDS.map((k) => `<tr><td>${e(k)}</td><td>${r.categories[k]}</td><td>${kib(r.categories[k])}</td><td>${pct(r.categories[k], r.totalBytes)}</td></tr>`).join('\n');
  const layerRows = r.layers
    .map((l) => `<tr><td>${e(l.name)}</td><td>${l.bytes}</td><td>${l.paramBytes}</td><td>${l.macs}</td><td>${e(fmtMs(l.ms))}</td><td>${e(l.bound)}</td><td>${l.energyUj.toFixed(2)}</td></tr>`)
    .join('\n');
  const status = r.fits ? 'fits' : 'nofit';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${e(`btnn hw-sim: ${title(r)}`)}</title>
<style>
${REPORT_CSS}</style>
</head>
<body>
<h1>${e(`Memory and cost: ${title(r)}`)}</h1>
<p>Device: ${e(r.deviceName)}</p>
<p>Total ${r.totalBytes} bytes (${kib(r.totalBytes)} KiB) of budget ${r.budgetBytes} bytes (${kib(r.budgetBytes)} KiB): <span class="${status}">${e(fitLine(r))}</span></p>
${r.bits !== 32 ? `<p>${e(`The ${r.bits}-bit plan is a projection: the runtime is f32-only today.`)}</p>` : ''}
<p>Estimated time ${e(fmtMs(r.totalMs))} ms, energy ${r.totalEnergyUj.toFixed(1)} µJ (roofline lower bound).</p>
<h2>Bytes per kind</h2>
${barChart('Plan bytes per kind against the device budget', kindBars, { value: r.budgetBytes, label: `budget ${r.budgetBytes} B`, color: r.fits ? '#1a7f37' : '#c62828' })}
<table>
<tr><th>kind</th><th>bytes</th><th>KiB</th><th>% of total</th></tr>
${kindRows}
</table>
<h2>Layers</h2>
${barChart('MACs per layer', macBars)}
<table>
<tr><th>layer</th><th>bytes</th><th>param bytes</th><th>MACs</th><th>est. ms</th><th>bound</th><th>energy µJ</th></tr>
${layerRows}
</table>
${r.rankHistory ? `<h2>Ranks over training</h2>
${historyChart('Parameters after each rank-pruning event (hover a dot for the ranks)', r.rankHistory)}
<table>
<tr><th>step</th><th>epoch</th><th>params</th><th>plan bytes</th><th>ranks</th></tr>
${r.rankHistory.map((p) => `<tr><td>${p.step}</td><td>${p.epoch}</td><td>${p.params}</td><td>${p.planBytes}</td><td>${e(Object.entries(p.ranks).map(([l, rk]) => `${l} [${rk.join(',')}]`).join(', '))}</td></tr>`).join('\n')}
</table>` : ''}
<h2>Assumptions</h2>
<ul>
${r.assumptions.map((a) => `<li>${e(a)}</li>`).join('\n')}
</ul>
</body>
</html>
`;
}

/**
 * Writes report.json, report.md and report.html into `dir` (created if needed), each atomically.
 * All three are rendered in memory first: a report that fails to render leaves no file written
 * (not a report.json and report.md beside a missing or stale report.html).
 */
export function writeReports(dir: string, r: SimReport): { json: string; md: string; html: string } {
  const paths = { json: join(dir, 'report.json'), md: join(dir, 'report.md'), html: join(dir, 'report.html') };
  const texts = { json: JSON.stringify(r, null, 2) + '\n', md: toMarkdown(r), html: toHtml(r) };
  writeFileAtomic(paths.json, texts.json);
  writeFileAtomic(paths.md, texts.md);
  writeFileAtomic(paths.html, texts.html);
  return paths;
}
