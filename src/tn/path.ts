// Contraction paths: the order in which a network's tensors are contracted pairwise. The cost
// counted is training cost: a pairwise contraction over the index union U costs 2·Π dims(U) flops
// forward and the same again for each operand that needs a gradient, so the path minimises
// forward + backward together. An optional limit on the size of every intermediate (floats)
// trades flops for workspace.
//
// Two searches, switched on the number of tensors n:
//   n ≤ EXACT_MAX_TENSORS  dynamic programming over subsets (opt_einsum's "optimal" in spirit):
//                          the cheapest tree, exactly. It looks at ~3^n/2 splits (n = 10: ~30 000,
//                          a few ms; n = 14: 2.4 M, and the planner searches once per distinct
//                          tree and per reconstruct chunk), so it is kept to sizes where it is fast.
//                          Every layer of the default MNIST models (≤ 5 factors + x) and every
//                          layer of ≤ 8 modes (≤ 10 tensors) is planned exactly, as before.
//   n > EXACT_MAX_TENSORS  greedy pairwise order for the first n − EXACT_MAX_TENSORS contractions
//                          (repeatedly the pair of lowest score; ties: the smaller result, then the
//                          pair met first, tensors in order of their first leaf; pairs whose result
//                          exceeds the limit skipped), then the exact search over the
//                          EXACT_MAX_TENSORS tensors left. Three scores are tried, the pair's
//                          training flops ("cheapest first"), its result's size over its operands'
//                          and its result's size, and the cheapest whole tree is kept (one score
//                          alone was up to 10× off the optimum on TT/Tucker chains; the three
//                          together within 1.2× on the formats at 11–14 tensors, measured against
//                          the exact search). Deterministic and bounded (3 × (< n³ pairs +
//                          3^10/2 splits)); test/planner.test.ts checks the bound and the factor.
// `pathSearchStats.states` counts the splits (DP) and pairs (greedy) looked at, so tests can bound
// the work without timing it.

export type Tree = { leaf: number } | { left: Tree; right: Tree };

export interface PathTerm {
  indices: string[];
  /** The backward pass needs this term's gradient (trainable factor, or x when dx is wanted). */
  needsGrad: boolean;
}

export interface Path {
  tree: Tree;
  /** Forward flops (2 per multiply-add). */
  forwardFlops: number;
  backwardFlops: number;
  /** Floats of the intermediates (root excluded): what forward must keep for backward. */
  savedFloats: number;
  largestFloats: number;
}

/** Largest network searched exactly; above it the greedy order is used (header). */
export const EXACT_MAX_TENSORS = 10;
/** Bit masks over tensors and over indices are 32-bit integers. */
const MAX_TENSORS = 31;
const MAX_INDICES = 31;

/** Work done by the path searches since the last reset (a diagnostic for tests). */
export const pathSearchStats = { states: 0 };

const popcount = (x: number): number => { let c = 0; while (x) { x &= x - 1; c++; } return c; };
const lowBit = (x: number): number => 31 - Math.clz32(x & -x);

/** The network as bit masks: one index mask per term, the output's mask, and each index's dimension. */
interface Masks { term: number[]; out: number; need: boolean[]; dim: number[] }

function masksOf(terms: PathTerm[], output: string[], dims: Record<string, number>): Masks {
  const ids = new Map<string, number>();
  const id = (ix: string): number => {
    let k = ids.get(ix);
    if (k === undefined) {
      if (!(ix in dims)) throw new Error(`contraction path: index ${ix} has no dimension`);
      k = ids.size;
      if (k >= MAX_INDICES) throw new Error(`contraction path: more than ${MAX_INDICES} distinct indices`);
      ids.set(ix, k);
    }
    return 1 << k;
  };
  const term = terms.map((t) => t.indices.reduce((m, ix) => m | id(ix), 0));
  const out = output.reduce((m, ix) => m | id(ix), 0);
  const dim: number[] = [];
  for (const [ix, k] of ids) dim[k] = dims[ix];
  return { term, out, need: terms.map((t) => t.needsGrad), dim };
}

function sizeOf(mask: number, dim: number[]): number {
  let p = 1;
  for (let m = mask; m; m &= m - 1) p *= dim[lowBit(m)];
  return p;
}

/** Flops and intermediates of any tree over the terms (the same numbers for both searches). */
function evaluate(tree: Tree, k: Masks): Path {
  const n = k.term.length;
  const full = n === 31 ? 0x7fffffff : (1 << n) - 1;
  const inside = (s: number): number => { let m = 0; for (let r = s; r; r &= r - 1) m |= k.term[lowBit(r)]; return m; };
  const result = (s: number): number => inside(s) & (k.out | inside(full & ~s));
  const needs = (s: number): boolean => { for (let r = s; r; r &= r - 1) if (k.need[lowBit(r)]) return true; return false; };
  const stats = { forwardFlops: 0, backwardFlops: 0, savedFloats: 0, largestFloats: 0 };
  const walk = (t: Tree): number => {
    if ('leaf' in t) return 1 << t.leaf;
    const a = walk(t.left), b = walk(t.right), s = a | b;
    const fwd = 2 * sizeOf(result(a) | result(b), k.dim);
    stats.forwardFlops += fwd;
    stats.backwardFlops += fwd * ((needs(a) ? 1 : 0) + (needs(b) ? 1 : 0));
    if (s !== full) {
      const r = sizeOf(result(s), k.dim);
      stats.savedFloats += r;
      stats.largestFloats = Math.max(stats.largestFloats, r);
    }
    return s;
  };
  walk(tree);
  return { tree, ...stats };
}

/**
 * The cheapest tree over `terms` producing `output` (an index set), or null when no tree keeps
 * every intermediate within `limitFloats`. Exact up to EXACT_MAX_TENSORS tensors, greedy then
 * exact above (header).
 */
export function optimalPath(terms: PathTerm[], output: string[], dims: Record<string, number>, limitFloats = Infinity): Path | null {
  const n = terms.length;
  if (n === 0 || n > MAX_TENSORS) throw new Error(`optimalPath handles 1..${MAX_TENSORS} tensors, got ${n}`);
  if (n <= EXACT_MAX_TENSORS) return exactPath(terms, output, dims, limitFloats);
  const k = masksOf(terms, output, dims);
  let best: Path | null = null;
  for (const score of GREEDY_SCORES) {
    const nodes = greedyMerge(k, leafNodes(k), EXACT_MAX_TENSORS, limitFloats, score);
    if (!nodes) continue;
    const rest = dpTree(nodes.map((x) => x.mask), nodes.map((x) => x.need), k.out, k.dim, limitFloats);
    if (!rest) continue;
    const p = evaluate(substitute(rest, nodes.map((x) => x.tree)), k);
    if (!best || p.forwardFlops + p.backwardFlops < best.forwardFlops + best.backwardFlops) best = p;
  }
  return best;
}

/** The exact search (dynamic programming over subsets); exported for tests. At most 20 tensors. */
export function exactPath(terms: PathTerm[], output: string[], dims: Record<string, number>, limitFloats = Infinity): Path | null {
  const n = terms.length;
  if (n === 0 || n > 20) throw new Error(`exactPath handles 1..20 tensors, got ${n}`);
  const k = masksOf(terms, output, dims);
  const tree = dpTree(k.term, k.need, k.out, k.dim, limitFloats);
  return tree && evaluate(tree, k);
}

/** Subset DP over tensors with index masks `term`: the cheapest tree (leaves = positions), or null. */
function dpTree(term: number[], needs: boolean[], out: number, dim: number[], limitFloats: number): Tree | null {
  const n = term.length;
  const full = (1 << n) - 1;
  // inside[s]: the indices a subset's tensors have; result[s]: those also outside it or in the output.
  const inside = new Int32Array(full + 1);
  const need = new Uint8Array(full + 1);
  for (let s = 1; s <= full; s++) {
    const t = lowBit(s), rest = s & (s - 1);
    inside[s] = inside[rest] | term[t];
    need[s] = need[rest] | (needs[t] ? 1 : 0);
  }
  const result = new Int32Array(full + 1);
  for (let s = 1; s <= full; s++) result[s] = inside[s] & (out | inside[full ^ s]);
  const cost = new Float64Array(full + 1).fill(Infinity);
  const split = new Int32Array(full + 1);
  for (let t = 0; t < n; t++) cost[1 << t] = 0;
  // Numeric order visits every subset after all of its proper subsets.
  let states = 0;
  for (let s = 1; s <= full; s++) {
    if ((s & (s - 1)) === 0) continue;
    if (s !== full && sizeOf(result[s], dim) > limitFloats) continue;
    // Enumerate splits s = a ∪ b with a containing the lowest set bit (each unordered pair once);
    // the first strictly cheapest split wins.
    const low = s & -s;
    let best = Infinity, bestA = 0;
    for (let a = (s - 1) & s; a > 0; a = (a - 1) & s) {
      if (!(a & low)) continue;
      const b = s ^ a;
      if (cost[a] === Infinity || cost[b] === Infinity) continue;
      states++;
      const fwd = 2 * sizeOf(result[a] | result[b], dim);
      const c = cost[a] + cost[b] + fwd * (1 + need[a] + need[b]);
      if (c < best) { best = c; bestA = a; }
    }
    cost[s] = best;
    split[s] = bestA;
  }
  pathSearchStats.states += states;
  if (cost[full] === Infinity) return null;
  const build = (s: number): Tree => (popcount(s) === 1 ? { leaf: lowBit(s) } : { left: build(split[s]), right: build(s ^ split[s]) });
  return build(full);
}

interface Node { mask: number; need: boolean; tree: Tree }
/** What a greedy step minimises for a pair: its training flops, its result's size against its operands', or its result's size. */
interface PairCost { flops: number; result: number; a: number; b: number }
const GREEDY_SCORES: readonly ((c: PairCost) => number)[] = [
  (c) => c.flops,
  (c) => c.result / (c.a + c.b),
  (c) => c.result,
];

const leafNodes = (k: Masks): Node[] => k.term.map((m, t) => ({ mask: m, need: k.need[t], tree: { leaf: t } }));

/** Tree over nodes with each node's subtree put in at its leaf. */
const substitute = (t: Tree, trees: Tree[]): Tree => ('leaf' in t ? trees[t.leaf] : { left: substitute(t.left, trees), right: substitute(t.right, trees) });

/**
 * Contracts the pair of lowest score until `stopAt` tensors remain (ties: the smaller result, then
 * the pair met first, tensors kept in order of their first leaf), skipping pairs whose result
 * exceeds the limit (except the last contraction, which makes the output). Null when stuck.
 */
function greedyMerge(k: Masks, start: Node[], stopAt: number, limitFloats: number, score: (c: PairCost) => number): Node[] | null {
  let nodes = start;
  let states = 0;
  while (nodes.length > Math.max(1, stopAt)) {
    let best: { i: number; j: number; score: number; size: number; mask: number } | null = null;
    const last = nodes.length === 2;
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        states++;
        let others = k.out;
        for (let o = 0; o < nodes.length; o++) if (o !== i && o !== j) others |= nodes[o].mask;
        const union = nodes[i].mask | nodes[j].mask;
        const mask = union & others;
        const size = sizeOf(mask, k.dim);
        if (!last && size > limitFloats) continue;
        const flops = 2 * sizeOf(union, k.dim) * (1 + (nodes[i].need ? 1 : 0) + (nodes[j].need ? 1 : 0));
        const s = score({ flops, result: size, a: sizeOf(nodes[i].mask, k.dim), b: sizeOf(nodes[j].mask, k.dim) });
        if (!best || s < best.score || (s === best.score && size < best.size)) best = { i, j, score: s, size, mask };
      }
    }
    if (!best) { pathSearchStats.states += states; return null; }
    const { i, j, mask } = best;
    const merged: Node = { mask, need: nodes[i].need || nodes[j].need, tree: { left: nodes[i].tree, right: nodes[j].tree } };
    nodes = nodes.flatMap((x, o) => (o === i ? [merged] : o === j ? [] : [x]));
  }
  pathSearchStats.states += states;
  return nodes;
}
