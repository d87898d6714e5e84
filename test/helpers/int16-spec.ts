// The network an int16 test trains for a format: the default one, unless the cost model keeps all
// of its GEMMs f32 at training's shapes (4 lanes of 32 rows) — then the same network at the first
// of a few other max ranks where some go int16 (TT at its default rank: every contraction is
// short enough that int16's packing costs about what its dot products save, and which side of
// that line a GEMM falls moves with each refit of the rates).
import { prepare } from '../../src/prepare/prepare.js';
import { defaultSpec } from '../../src/spec/defaults.js';
import type { LayerFormat, ModelSpec } from '../../src/spec/types.js';

const OTHER_RANKS = [3, 6, 48, 64];

export function int16Spec(format: LayerFormat): { spec: ModelSpec; maxRank: number | 'default' } {
  for (const maxRank of [undefined, ...OTHER_RANKS]) {
    const spec = defaultSpec(format, maxRank);
    const p = prepare(spec, { batch: 128, mode: 'train', lanes: 4, precision: 'int16' });
    if (Object.values(p.programs).some((progs) => progs.some((x: { ops: { op: string }[] }) => x.ops.some((o) => o.op === 'gemmI16')))) return { spec, maxRank: maxRank ?? 'default' };
  }
  throw new Error(`${format}: no GEMM goes int16 at the default rank or at ${OTHER_RANKS.join(', ')}`);
}
