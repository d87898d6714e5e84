// embedding: rows of a `rows × dim` table stored in any format, looked up by an i32 id input with
// `bag` ids per sample (src/tn/embedding.ts plans the lookup: the factor slices of the batch's
// unique ids are gathered and contracted; the table is never built). With bag > 1 the bag's rows
// are pooled (sum, or mean = sum · 1/bag) into one vector per sample. The host fills the index
// buffers when it loads a batch (dedup of the lane's ids: Runtime.load); everything else is ops.
import type { EmbeddingSpec } from '../spec/types.js';
import type { Op } from '../tn/compile.js';
import { planEmbedding, type EmbeddingPlan } from '../tn/embedding.js';
import { rebind, ref, type LowerContext } from './context.js';
import type { LayerProgram } from './types.js';

/** What the host writes for one lane before a step: the lookup's index arrays from the lane's ids. */
export interface EmbeddingIndex {
  layer: string;
  plan: EmbeddingPlan;
  /** The lane's id buffer (laneRows × bag i32) and ids per sample. */
  ids: string;
  bag: number;
  inverse: string;
  /** Per gathered factor (plan order), the slice-row buffer. */
  rows: string[];
  /**
   * A dense table trained row-sparse (plan.rowSparse): the i32 buffer of its touched rows, shared by
   * the lanes; lane l's distinct rows at l·maxBatch, the union over lanes (up to lanes·maxBatch rows) from lanes·maxBatch. Else null.
   */
  touched: string | null;
}

export function lowerEmbedding(ctx: LowerContext): LayerProgram & { laneGrads: string[]; indexes: EmbeddingIndex[] } {
  const layer = ctx.layer as EmbeddingSpec;
  const bag = ctx.inWidths[0], m = layer.dim, rows = ctx.laneRows;
  // A dense table's step touches only the batch's rows (lazy Adam; src/runtime/sparse-rows.ts).
  const plan = planEmbedding(layer, layer.rows, rows * bag, { train: ctx.train, rowSparse: true });
  const t = ctx.t, i = ctx.index, train = ctx.train;
  const live: Record<string, [number, number]> = {
    rows: [t.fwd(i), train ? t.bwd(i) : t.fwd(i)], gathered: [t.fwd(i), train ? t.bwd(i) : t.fwd(i)],
    perm: [t.fwd(i), train ? t.bwd(i) : t.fwd(i)], saved: [t.fwd(i), train ? t.bwd(i) : t.fwd(i)],
    scratch: [t.fwd(i), train ? t.bwd(i) : t.fwd(i)], drows: [t.bwd(i), t.bwd(i)], dgathered: [t.bwd(i), t.bwd(i)],
    dsaved: [t.bwd(i), t.bwd(i)],
  };
  const forward: Op[][] = [], backward: Op[][] = [], indexes: EmbeddingIndex[] = [];
  const touched = plan.rowSparse ? ctx.declare('touched', 2 * ctx.lanes * plan.maxBatch, 'batch', null, t.hooks, t.end, 'i32') : null;
  for (let l = 0; l < ctx.lanes; l++) {
    const keys = new Map<string, string>();
    for (const x of plan.tensors) { keys.set(`param:${x.name}`, ctx.param(x.name)); keys.set(`grad:${x.name}`, ctx.grad(x.name, l)); }
    const indexLife: [number, number] = [t.prep, train ? t.bwd(i) : t.fwd(i)];
    const inverse = ctx.declare('inverse', plan.maxBatch, 'batch', l, ...indexLife, 'i32');
    keys.set('inverse', inverse);
    const rowKeys = plan.gathered.map((g, j) => {
      const k = ctx.declare(`index${j}`, plan.maxBatch, 'batch', l, ...indexLife, 'i32');
      keys.set(g.idx, k);
      return k;
    });
    const pooled = bag > 1;
    keys.set('out', pooled ? ctx.declare('bagRows', plan.maxBatch * m, 'activations', l, t.fwd(i), t.fwd(i)) : ctx.output(l));
    if (train) keys.set('dout', pooled ? ctx.declare('bagRowsGrad', plan.maxBatch * m, 'workspace', l, t.bwd(i), t.bwd(i)) : ctx.outputGrad(l));
    for (const b of plan.buffers) {
      if (b.kind !== 'workspace' || keys.has(b.name)) continue;
      const [first, last] = live[b.name];
      keys.set(b.name, ctx.declare(b.name, b.floats, b.name === 'rows' || b.name === 'gathered' ? 'activations' : 'workspace', l, first, last));
    }
    const bind = (k: string): string => { const v = keys.get(k); if (v === undefined) throw new Error(`embedding ${layer.name}: program buffer ${k} is not bound`); return v; };
    const fwd = rebind(plan.forward, bind);
    if (pooled) {
      for (let j = 0; j < bag; j++) fwd.push({ op: 'copy2d', dst: ref(ctx.output(l)), ldDst: m, src: ref(keys.get('out')!, j * m), ldSrc: bag * m, rows, cols: m, acc: j > 0 });
      if (layer.pool === 'mean') fwd.push({ op: 'scale', y: ref(ctx.output(l)), n: rows * m, alpha: 1 / bag });
    }
    forward.push(fwd);
    const bwd: Op[] = [];
    if (train) {
      if (pooled) {
        for (let j = 0; j < bag; j++) bwd.push({ op: 'copy2d', dst: ref(keys.get('dout')!, j * m), ldDst: bag * m, src: ref(ctx.outputGrad(l)), ldSrc: m, rows, cols: m, acc: false });
        if (layer.pool === 'mean') bwd.push({ op: 'scale', y: ref(keys.get('dout')!), n: plan.maxBatch * m, alpha: 1 / bag });
      }
      bwd.push(...rebind(plan.backward, bind));
    }
    backward.push(bwd);
    indexes.push({ layer: layer.name, plan, ids: ctx.input(0, l), bag, inverse, rows: rowKeys, touched });
  }
  // Every lane overwrites each factor's whole gradient (zero, then scatter-add its rows), except a
  // row-sparse table's, which the runtime sums over lanes row by row.
  return { prep: [], forward, backward, finish: [], finishSum: [], laneGrads: plan.tensors.map((x) => x.name).filter((x) => x !== plan.rowSparse), indexes };
}
