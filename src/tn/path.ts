// Contraction paths: the order in which a network's tensors are contracted pairwise, found by
// dynamic programming over subsets (exact for the ≤ 10 tensors a layer has; opt_einsum's
// "optimal" in spirit). The cost counted is training cost: a pairwise contraction over the index
// union U costs 2·Π dims(U) flops forward and the same again for each operand that needs a
// gradient, so the path minimises forward + backward together. An optional limit on the size of
// every intermediate (floats) trades flops for workspace.

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

const popcount = (x: number): number => { let c = 0; while (x) { x &= x - 1; c++; } return c; };

/**
 * The cheapest tree over `terms` producing `output` (an index set), or null when no tree keeps
 * every intermediate within `limitFloats`.
 */
export function optimalPath(terms: PathTerm[], output: string[], dims: Record<string, number>, limitFloats = Infinity): Path | null {
  const n = terms.length;
  if (n === 0 || n > 14) throw new Error(`optimalPath handles 1..14 tensors, got ${n}`);
  const full = (1 << n) - 1;
  const outSet = new Set(output);
  // The indices a subset's result keeps: those it has that are also outside it or in the output.
  const resultOf: string[][] = new Array(full + 1);
  const need: boolean[] = new Array(full + 1);
  for (let s = 1; s <= full; s++) {
    const inside = new Set<string>(), outside = new Set<string>(outSet);
    let g = false;
    for (let t = 0; t < n; t++) {
      if (s & (1 << t)) { terms[t].indices.forEach((ix) => inside.add(ix)); g ||= terms[t].needsGrad; } else terms[t].indices.forEach((ix) => outside.add(ix));
    }
    resultOf[s] = [...inside].filter((ix) => outside.has(ix));
    need[s] = g;
  }
  const size = (ixs: Iterable<string>): number => { let p = 1; for (const ix of ixs) p *= dims[ix]; return p; };
  const cost: number[] = new Array(full + 1).fill(Infinity);
  const split: number[] = new Array(full + 1).fill(0);
  for (let t = 0; t < n; t++) cost[1 << t] = 0;
  const subsets = Array.from({ length: full }, (_, i) => i + 1).sort((a, b) => popcount(a) - popcount(b));
  for (const s of subsets) {
    if (popcount(s) < 2) continue;
    if (s !== full && size(resultOf[s]) > limitFloats) continue;
    // Enumerate splits s = a ∪ b with a containing the lowest set bit (each unordered pair once).
    const low = s & -s;
    for (let a = (s - 1) & s; a > 0; a = (a - 1) & s) {
      if (!(a & low)) continue;
      const b = s ^ a;
      if (cost[a] === Infinity || cost[b] === Infinity) continue;
      const fwd = 2 * size(new Set([...resultOf[a], ...resultOf[b]]));
      const c = cost[a] + cost[b] + fwd * (1 + (need[a] ? 1 : 0) + (need[b] ? 1 : 0));
      if (c < cost[s]) { cost[s] = c; split[s] = a; }
    }
  }
  if (cost[full] === Infinity) return null;
  const build = (s: number): Tree => (popcount(s) === 1 ? { leaf: 31 - Math.clz32(s) } : { left: build(split[s]), right: build(s ^ split[s]) });
  const tree = build(full);
  const stats = { forwardFlops: 0, backwardFlops: 0, savedFloats: 0, largestFloats: 0 };
  const walk = (s: number): void => {
    if (popcount(s) === 1) return;
    const a = split[s], b = s ^ a;
    walk(a); walk(b);
    const fwd = 2 * size(new Set([...resultOf[a], ...resultOf[b]]));
    stats.forwardFlops += fwd;
    stats.backwardFlops += fwd * ((need[a] ? 1 : 0) + (need[b] ? 1 : 0));
    if (s !== full) { stats.savedFloats += size(resultOf[s]); stats.largestFloats = Math.max(stats.largestFloats, size(resultOf[s])); }
  };
  walk(full);
  return { tree, ...stats };
}

/** Distinct intermediate sizes worth trying as limits, ascending (for budgeted planning). */
export function candidateLimits(terms: PathTerm[], output: string[], dims: Record<string, number>): number[] {
  const sizes = new Set<number>();
  const n = terms.length;
  const outSet = new Set(output);
  for (let s = 1; s < (1 << n) - 1; s++) {
    if (popcount(s) < 2) continue;
    const inside = new Set<string>(), outside = new Set<string>(outSet);
    for (let t = 0; t < n; t++) {
      const side = s & (1 << t) ? inside : outside;
      terms[t].indices.forEach((ix) => side.add(ix));
    }
    let p = 1;
    for (const ix of inside) if (outside.has(ix)) p *= dims[ix];
    sizes.add(p);
  }
  return [...sizes].sort((a, b) => a - b);
}
