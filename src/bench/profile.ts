// `npm run bench -- --profile [--format F] [--precision P] [--rounds N]`: where a training step of
// a default model goes. The step runs its ops one at a time on one thread (Runtime.profileOps),
// each timed; the table sums them by phase, by op kind and by op (kind and shape), and what is
// left of the step's wall time is the host's share (loading the batch, Adam, the JS between ops).
// One clock read per op makes the profiled step a little slower than a plain one; both are shown.
import { loadCore } from '../core/wasm.js';
import { Runtime, PHASE_NAMES } from '../runtime/runtime.js';
import { initialise } from '../runtime/init.js';
import { defaultSpec } from '../spec/defaults.js';
import { TRAIN_LANES } from '../train/train.js';
import { loadMnist } from '../data/mnist.js';
import { median } from '../util/math.js';
import type { Op } from '../tn/compile.js';
import type { LayerFormat } from '../spec/types.js';
import type { Precision } from '../prepare/prepare.js';

const BATCH = 128;

export interface ProfileRow { phase: string; op: string; shape: string; perStep: number; ms: number }
export interface ProfileResult {
  format: LayerFormat; precision: Precision; steps: number;
  /** Wall ms of a plain step (median of the rounds) and of a profiled one (mean of all: the ops' times are means too). */
  stepMs: number; profiledStepMs: number;
  /** Per step: ms inside ops, by phase and by op kind; host = profiled step − ops. */
  opsMs: number; hostMs: number;
  byPhase: Record<string, number>; byKind: Record<string, number>;
  /** Per step, by phase, op kind and shape, largest first. */
  rows: ProfileRow[];
}

/** An op's shape as the table names it: GEMMs m×n×k (·t blocks, h heads, acc, stochastic mode), permutes their dims. */
export function opShape(op: Op): string {
  if (op.op === 'gemm' || op.op === 'gemmI16') {
    const sr = op.op === 'gemmI16' && op.mode !== 0 ? ` sr${op.mode}` : '';
    return `${op.m}×${op.n}×${op.k}${op.t > 1 ? `·${op.t}` : ''}${op.h > 1 ? ` h${op.h}` : ''}${op.acc ? ' acc' : ''}${sr}`;
  }
  if (op.op === 'permute') return `[${op.dims.join(',')}] strides [${op.strides.join(',')}]`;
  if (op.op === 'packI16') return `${op.k * op.t}×${op.n}${op.cols ? ` cols ${op.cols[0]}..${op.cols[1]}` : ''}`;
  if ('n' in op && typeof op.n === 'number') return `${op.n}`;
  if ('rows' in op && 'cols' in op) return `${op.rows}×${op.cols}`;
  return '';
}

export async function profileStep(format: LayerFormat, precision: Precision, rounds: number, steps = 50): Promise<ProfileResult> {
  const core = await loadCore('node');
  const batch = BATCH;
  const data = loadMnist('train', batch * 8);
  const rt = new Runtime(core, defaultSpec(format), batch, 'train', { lanes: TRAIN_LANES, precision });
  initialise(rt, 1);
  const source = { inputs: { x: data.inputs }, target: data.labels };
  let next = 0;
  const step = (): void => { const s = (next++ % 8) * batch; rt.trainStep({ source, rows: batch, row: (r) => s + r }, 1e-3); };
  for (let i = 0; i < 10; i++) step();
  const acc = new Map<string, ProfileRow>();
  const timed = (n: number): number => { const t0 = performance.now(); for (let i = 0; i < n; i++) step(); return (performance.now() - t0) / n; };
  const plain: number[] = [], profiled: number[] = [];
  let profiledSteps = 0;
  // Rounds alternate plain and profiled steps, so both see the same machine.
  for (let r = 0; r < rounds; r++) {
    plain.push(timed(steps));
    rt.profileOps((phase, op, ms) => {
      const shape = opShape(op), key = `${phase}|${op.op}|${shape}`;
      const row = acc.get(key) ?? { phase, op: op.op, shape, perStep: 0, ms: 0 };
      row.ms += ms; row.perStep++;
      acc.set(key, row);
    });
    profiled.push(timed(steps));
    profiledSteps += steps;
    rt.profileOps(null);
  }
  await rt.close();
  const rows = [...acc.values()].map((r) => ({ ...r, ms: r.ms / profiledSteps, perStep: r.perStep / profiledSteps })).sort((a, b) => b.ms - a.ms);
  const sum = (f: (r: ProfileRow) => string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const r of rows) out[f(r)] = (out[f(r)] ?? 0) + r.ms;
    return out;
  };
  const opsMs = rows.reduce((s, r) => s + r.ms, 0);
  const byPhase = sum((r) => r.phase);
  const profiledStepMs = profiled.reduce((a, b) => a + b, 0) / profiled.length;
  return {
    format, precision, steps: profiledSteps, stepMs: median(plain), profiledStepMs, opsMs, hostMs: Math.max(0, profiledStepMs - opsMs),
    byPhase: Object.fromEntries(PHASE_NAMES.filter((p) => byPhase[p] !== undefined).map((p) => [p, byPhase[p]])),
    byKind: Object.fromEntries(Object.entries(sum((r) => r.op)).sort((a, b) => b[1] - a[1])), rows,
  };
}

export function formatProfile(p: ProfileResult, top = 25): string {
  const pct = (ms: number): string => `${((100 * ms) / p.profiledStepMs).toFixed(1).padStart(5)}%`;
  const out = [
    `profile: default ${p.format} model, --precision ${p.precision}, batch ${BATCH} in ${TRAIN_LANES} lanes, 1 thread, ${p.steps} profiled steps`,
    `step ${p.stepMs.toFixed(2)} ms plain (median), ${p.profiledStepMs.toFixed(2)} ms profiled (mean): ops ${p.opsMs.toFixed(2)} ms, host (batch load, Adam, JS between ops) ${p.hostMs.toFixed(2)} ms`,
    '',
    'by phase   ' + Object.entries(p.byPhase).map(([k, v]) => `${k} ${v.toFixed(2)} ms (${pct(v).trim()})`).join(', '),
    'by op kind ' + Object.entries(p.byKind).map(([k, v]) => `${k} ${v.toFixed(2)} ms (${pct(v).trim()})`).join(', '),
    '',
    `${'ms/step'.padStart(8)} ${'share'.padStart(6)} ${'×/step'.padStart(7)}  ${'phase'.padEnd(10)} ${'op'.padEnd(8)} shape`,
  ];
  for (const r of p.rows.slice(0, top)) out.push(`${r.ms.toFixed(3).padStart(8)} ${pct(r.ms)} ${String(Math.round(r.perStep)).padStart(7)}  ${r.phase.padEnd(10)} ${r.op.padEnd(8)} ${r.shape}`);
  if (p.rows.length > top) out.push(`(${p.rows.length - top} more rows: --json has them all)`);
  return out.join('\n') + '\n';
}
