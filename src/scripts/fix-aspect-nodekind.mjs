// as-pect 8.1.0's transform hard-codes AssemblyScript 0.27 NodeKind numbers; AS 0.28 inserted
// NodeKind.TupleType, shifting later kinds by one. Rewrite them from the installed compiler.
// Idempotent; a no-op when as-pect is absent (production installs).
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let dir;
try {
  dir = require.resolve('@as-pect/transform/package.json').replace(/package\.json$/, 'lib/');
} catch {
  process.exit(0);
}
const { NodeKind } = await import('assemblyscript');
let changed = 0;
for (const f of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
  const p = dir + f;
  const src = readFileSync(p, 'utf8');
  const out = src.replace(/((?:\bcase|===)\s+)(\d+)(\s*\/\*\s*NodeKind\.(\w+)\s*\*\/)/g, (m, pre, num, post, name) => {
    if (!(name in NodeKind)) throw new Error(`fix-aspect-nodekind: NodeKind.${name} unknown to the installed assemblyscript`);
    if (Number(num) !== NodeKind[name]) changed++;
    return pre + NodeKind[name] + post;
  });
  if (out !== src) writeFileSync(p, out);
}
if (changed) console.log(`fix-aspect-nodekind: ${changed} constant(s) updated in ${dir}`);
