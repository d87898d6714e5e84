// The per-layer table `btnn inspect` and the training log print: what each layer stores and
// which contraction path the planner chose for it, at what cost.
import type { LayerPlan } from '../tn/plan.js';
import { layerParams } from '../model/layers.js';

export interface LayerRow {
  layer: string; format: string; modes: string; ranks: string; params: number;
  /** Forward + backward flops per sample (forward only when planned for inference). */
  flopsPerSample: number; path: string; order: string; workspaceBytes: number;
}

export function layerRows(plans: LayerPlan[]): LayerRow[] {
  return plans.map(({ layer, chosen }) => ({
    layer: layer.name,
    format: layer.format,
    modes: layer.inModes ? `[${layer.inModes.join(',')}]→[${layer.outModes!.join(',')}]` : `${layer.inFeatures}→${layer.outFeatures}`,
    ranks: layer.ranks ? `[${layer.ranks.join(',')}]` : '-',
    params: layerParams(layer),
    flopsPerSample: chosen.flopsPerSample,
    path: chosen.kind,
    order: chosen.order,
    workspaceBytes: chosen.workspaceBytes,
  }));
}

export function formatLayerTable(plans: LayerPlan[]): string {
  const head = ['layer', 'format', 'modes', 'ranks', 'params', 'MFLOP/sample', 'path', 'workspace'];
  const rows = layerRows(plans).map((r) => [
    r.layer, r.format, r.modes, r.ranks, String(r.params), (r.flopsPerSample / 1e6).toFixed(3), r.path,
    `${(r.workspaceBytes / 1024).toFixed(1)} KiB`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i >= 4 && i !== 6 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}
