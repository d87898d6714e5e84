// btnn as a package: `npm pack` makes a tarball that installs into an empty directory offline (with
// its dependencies' tarballs, packed from node_modules) and runs there without the AssemblyScript
// toolchain: `npx btnn train`, `import('btnn')` with the library's names, and the README's example.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const npm = (cwd: string, ...args: string[]) => spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });

/** Production dependencies, transitively, as installed in node_modules. */
function dependencyDirs(pkgDir: string, seen = new Set<string>()): string[] {
  const deps = Object.keys((JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});
  for (const d of deps) {
    const dir = join(root, 'node_modules', d);
    if (seen.has(dir)) continue;
    seen.add(dir);
    dependencyDirs(dir, seen);
  }
  return [...seen];
}

t.test('the packed tarball installs offline and runs the CLI, the library and the README example', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-pack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const packs = join(dir, 'packs');
  mkdirSync(packs);
  // --ignore-scripts: the build exists (npm test builds first); `prepare` would rebuild it.
  const p = npm(root, 'pack', '--ignore-scripts', '--pack-destination', packs, '.', ...dependencyDirs(root));
  t.equal(p.status, 0, p.stderr.slice(-500));
  const tarballs = readdirSync(packs).map((f) => join(packs, f));
  const own = tarballs.find((f) => /btnn-\d/.test(f))!;
  const listed = spawnSync('tar', ['-tzf', own], { encoding: 'utf8' }).stdout;
  for (const f of ['package/build/btnn.node.wasm', 'package/build/js/src/index.js', 'package/build/js/src/index.d.ts', 'package/build/js/src/runtime/worker.js', 'package/hw-sim/devices/esp32-s3.json']) {
    t.ok(listed.includes(f), `the tarball has ${f}`);
  }
  t.notOk(/package\/(assembly|test)\//.test(listed), 'no sources of the core or tests in the tarball');
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
  const inst = npm(app, 'install', '--offline', ...tarballs);
  t.equal(inst.status, 0, inst.stderr.slice(-500));
  t.notOk(existsSync(join(app, 'node_modules', 'assemblyscript')), 'no AssemblyScript toolchain installed');
  const run = spawnSync('npx', ['btnn', 'train', '--limit-train', '2000', '--epochs', '1', '--out', 'r'], { cwd: app, encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr.slice(-500));
  t.ok(existsSync(join(app, 'r', 'model.safetensors')), 'npx btnn train wrote its model');
  const keys = spawnSync(process.execPath, ['-e', "import('btnn').then(m => console.log(Object.keys(m).join(' ')))"], { cwd: app, encoding: 'utf8' });
  t.equal(keys.status, 0, keys.stderr);
  for (const k of ['train', 'loadModel', 'evaluate', 'simulate', 'validateSpec', 'Runtime']) t.match(keys.stdout, new RegExp(`\\b${k}\\b`), `import('btnn') has ${k}`);
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const example = /<!-- example:library -->\s*```js\n([\s\S]*?)```/.exec(readme)?.[1];
  t.ok(example && example.split('\n').length <= 25, 'the README has the example (about 20 lines)');
  writeFileSync(join(app, 'example.mjs'), example!);
  const ex = spawnSync(process.execPath, ['example.mjs'], { cwd: app, encoding: 'utf8' });
  t.equal(ex.status, 0, ex.stderr.slice(-500));
  t.match(ex.stdout, /^accuracy 0\.\d+, \d+ params \([\d.]+× smaller\)\n8-bit inference needs \d+ bytes of \d+: fits (true|false)\n$/);
});
