// `npm start` / `npm run bench` helper: rebuild (npm run build) only when a source is newer than
// the build outputs, so the front-door command does not spend its first 20 s recompiling what
// `npm ci` (prepare) just built.
import { statSync, readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outputs = ['build/btnn.node.wasm', 'build/btnn.edge-simd.wasm', 'build/btnn.edge-scalar.wasm', 'build/btnn.model-simd.wasm', 'build/btnn.model-scalar.wasm', 'build/js/src/cli/main.js'];

function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = st.mtimeMs;
  for (const e of readdirSync(path)) if (e !== '__tests__') t = Math.max(t, newest(join(path, e)));
  return t;
}

const stale = outputs.some((o) => !existsSync(join(root, o))) ||
  Math.max(...['assembly', 'src', 'hw-sim', 'asconfig.json', 'tsconfig.json', 'package.json'].map((p) => newest(join(root, p)))) >
  Math.min(...outputs.map((o) => statSync(join(root, o)).mtimeMs));
if (stale) {
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
