// The one-way import rule (DESIGN.md): no import cycles between files, nor between folders of
// src/ and hw-sim/; hw-sim's planners import nothing of src/; src/formats sits at the bottom.
// Type-only imports count too: a cycle of types is still a cycle of concepts.
import t from 'tap';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

const files = [...sources(join(root, 'src')), ...sources(join(root, 'hw-sim'))];
const rel = (p: string): string => relative(root, p);
const edges = new Map<string, string[]>();
for (const f of files) {
  const text = readFileSync(f, 'utf8');
  const deps: string[] = [];
  // import … from './x.js', export … from, side-effect import './x.js', dynamic import('./x.js').
  const forms = [/^\s*(?:import|export)\s[^'";]*?from\s+['"](\.[^'"]+)['"]/gm, /^\s*import\s+['"](\.[^'"]+)['"]/gm, /\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g];
  for (const form of forms) {
    for (const m of text.matchAll(form)) deps.push(rel(resolve(dirname(f), m[1].replace(/\.js$/, '.ts'))));
  }
  edges.set(rel(f), deps);
}

/** Folder of a file: src/<folder> or hw-sim (hw-sim/plan… counted by its own folder). */
const folder = (f: string): string => dirname(f);

function findCycle(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, number>(); // 1 visiting, 2 done
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 1); stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (m === n) continue;
      if (state.get(m) === 1) return [...stack.slice(stack.indexOf(m)), m];
      if (!state.has(m)) { const c = visit(m); if (c) return c; }
    }
    state.set(n, 2); stack.pop();
    return null;
  };
  for (const n of graph.keys()) if (!state.has(n)) { const c = visit(n); if (c) return c; }
  return null;
}

t.test('no import cycle between files of src/ and hw-sim/', async (t) => {
  const g = new Map([...edges].map(([f, d]) => [f, new Set(d)]));
  t.ok(files.length > 40, `${files.length} files scanned`);
  const cycle = findCycle(g);
  t.equal(cycle, null, cycle ? `cycle: ${cycle.join(' → ')}` : 'acyclic');
});

t.test('no import cycle between folders', async (t) => {
  const g = new Map<string, Set<string>>();
  for (const [f, deps] of edges) {
    const from = folder(f);
    if (!g.has(from)) g.set(from, new Set());
    for (const d of deps) if (folder(d) !== from) g.get(from)!.add(folder(d));
  }
  const cycle = findCycle(g);
  t.equal(cycle, null, cycle ? `folder cycle: ${cycle.join(' → ')}` : 'acyclic');
});

t.test('ground floors: hw-sim planners and src/formats import nothing above them', async (t) => {
  for (const f of ['hw-sim/plan/planner.ts', 'hw-sim/plan/greedy-planner.ts']) {
    for (const d of edges.get(f) ?? []) t.notOk(d.startsWith('src/'), `${f} imports ${d}`);
  }
  for (const [f, deps] of edges) {
    if (!f.startsWith('src/formats/')) continue;
    for (const d of deps) t.ok(d.startsWith('src/formats/') || d.startsWith('src/util/'), `${f} imports ${d}`);
  }
});

t.test('the checker sees a cycle when there is one', async (t) => {
  t.same(findCycle(new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])]])), ['a', 'b', 'c', 'a']);
  t.equal(findCycle(new Map([['a', new Set(['b'])], ['b', new Set(['c'])]])), null);
});
