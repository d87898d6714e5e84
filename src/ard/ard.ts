// Automatic rank determination on a Runtime (METHOD.md §3): the rank variances λ (`rankVar`, one
// per rank slice, f64 on the host), their closed-form EM update from E[x²] summed in f64 by the
// core, the reparameterised weight samples (SVI), and the prior's gradients. The runtime's
// programs see only `weights` (SVI) or `params` (MAP); this class adds the prior around them.
import type { Runtime } from '../runtime/runtime.js';
import { rankGroups, governedTensors, type RankGroup } from '../bayes/groups.js';
import { emVariance, dampedVariance, softplusInverse, type Hyperprior } from '../bayes/prior.js';

export interface ArdOptions {
  prior: Hyperprior;
  /** EM step size α of the damped write-back (METHOD §3.3: 1.0 for MNIST). */
  emStep: number;
}

/** Largest precision 1/λ handed to the core: keeps β·μ/λ finite in f32 once a slice is dead (§7 item 5). */
export const PRECISION_MAX = 1e30;

export class Ard {
  readonly groups: RankGroup[];
  readonly rankVar: Float64Array[];
  /** Tensors that carry a prior (and, with SVI, a posterior scale). */
  private readonly governed: Set<string>;
  /** Offset of each group's slices in the precision / stats buffers. */
  private readonly offsets: number[];

  /** With `rankVar` given (after pruning), continue from it; else set λ by one full EM update (§3.3 step 5). */
  constructor(private readonly rt: Runtime, readonly options: ArdOptions, rankVar?: Float64Array[]) {
    if (!rt.spec.inference) throw new Error('Ard needs a spec with inference "svi" or "map"');
    this.groups = rankGroups(rt.spec);
    this.governed = governedTensors(rt.spec);
    let off = 0;
    this.offsets = this.groups.map((g) => { const o = off; off += g.size; return o; });
    this.rankVar = rankVar ? rankVar.map((v) => Float64Array.from(v)) : this.groups.map((g) => new Float64Array(g.size));
    if (rankVar) this.writePrecision(); else this.update(1);
  }

  private get svi(): boolean { return this.rt.spec.inference === 'svi'; }

  /** M_ρ = Σ over slice ρ's entries of μ² + σ², in f64. */
  sliceStats(): Float64Array[] {
    const rt = this.rt, e = rt.core.exports;
    const total = this.offsets.length ? this.offsets[this.offsets.length - 1] + this.groups[this.groups.length - 1].size : 0;
    const base = rt.bufferAddr('ard.stats');
    new Float64Array(rt.core.memory.buffer, base, total).fill(0);
    this.groups.forEach((g, i) => {
      for (const x of g.governs) {
        const rho = this.svi ? rt.slotView('rho', x.tensor).byteOffset : 0;
        e.sliceSquaresF64(base + this.offsets[i] * 8, rt.tensor(x.tensor).byteOffset, rho, x.outer, x.slices, x.inner);
      }
    });
    const all = new Float64Array(rt.core.memory.buffer, base, total);
    return this.groups.map((g, i) => all.slice(this.offsets[i], this.offsets[i] + g.size));
  }

  /** One EM step: λ ← (1−α)·λ + α·λ_new(M, D) for every slice, α = options.emStep unless given. */
  update(alpha = this.options.emStep): void {
    const stats = this.sliceStats();
    this.groups.forEach((g, i) => {
      for (let r = 0; r < g.size; r++) {
        this.rankVar[i][r] = dampedVariance(this.rankVar[i][r], emVariance(stats[i][r], g.entriesPerSlice, this.options.prior), alpha);
      }
    });
    this.writePrecision();
  }

  /** Hands the current rank variances to the core (after a restore, say), without an EM step. */
  writePrecision(): void {
    const total = this.groups.reduce((n, g) => n + g.size, 0);
    const p = this.rt.f32(this.rt.bufferAddr('ard.precision'), total);
    this.groups.forEach((g, i) => {
      for (let r = 0; r < g.size; r++) p[this.offsets[i] + r] = Math.min(1 / this.rankVar[i][r], PRECISION_MAX);
    });
  }

  /** SVI: draws the weights the programs read for governed tensors, w = μ + σ·ε (the rest are read as μ). */
  sample(): void {
    if (!this.svi) return;
    const rt = this.rt, e = rt.core.exports;
    const rng = rt.bufferAddr('rng');
    for (const s of rt.slots) {
      if (!this.governed.has(s.name)) continue;
      e.sampleWeightsF32(rt.slotView('weights', s.name).byteOffset, rt.slotView('eps', s.name).byteOffset, rt.tensor(s.name).byteOffset, rt.slotView('rho', s.name).byteOffset, rng, s.floats);
    }
  }

  /** SVI: the programs read the posterior means (evaluation without sampling). */
  useMean(): void {
    if (!this.svi) return;
    for (const t of this.governed) this.rt.slotView('weights', t).set(this.rt.tensor(t));
  }

  /**
   * Adds β·∂KL to the data gradients in `grads` (and writes ρ's gradient with SVI). Returns the
   * unweighted KL sum (SVI) or the prior penalty ½Σμ²/λ (MAP, whose KL is infinite at σ = 0).
   */
  priorGrads(beta: number): number {
    const rt = this.rt, e = rt.core.exports;
    const prec = rt.bufferAddr('ard.precision');
    let kl = 0;
    this.groups.forEach((g, i) => {
      for (const x of g.governs) {
        const gmu = rt.gradient(x.tensor).byteOffset, mu = rt.tensor(x.tensor).byteOffset;
        const p = prec + this.offsets[i] * 4;
        kl += this.svi
          ? e.sviGradF32(gmu, rt.slotView('grads.rho', x.tensor).byteOffset, mu, rt.slotView('rho', x.tensor).byteOffset,
            rt.slotView('eps', x.tensor).byteOffset, p, x.outer, x.slices, x.inner, beta)
          : e.mapGradF32(gmu, mu, p, x.outer, x.slices, x.inner, beta);
      }
    });
    return kl;
  }

  /** SVI: every governed entry starts with σ = `relative` × the std of its tensor's initialisation. */
  initScales(relative: number, stdOf: (tensor: string) => number): void {
    if (!this.svi) return;
    for (const t of this.governed) {
      this.rt.slotView('rho', t).fill(softplusInverse(relative * stdOf(t)));
    }
  }
}
