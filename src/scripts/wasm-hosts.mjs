// Builds the C test hosts that run an exported model.wasm on real microcontroller-class runtimes:
// wasm3 (MVP interpreter) and WAMR iwasm (fast interpreter with SIMD), plus their command-line
// binaries, from the offline sources in the wasm-runtimes tool directory (build.sh + tarballs).
//
//   import { wasmHosts } from '../src/scripts/wasm-hosts.mjs';
//   const h = await wasmHosts();   // { wasm3Host, wamrHost, wasm3, iwasm }  or  { skip: 'reason' }
//   node src/scripts/wasm-hosts.mjs        (prints the four paths, or the skip reason)
//
// Sources: $BTNN_WASM_RUNTIMES, else <repo>/../shared/tools/wasm-runtimes, else
// /work/shared/tools/wasm-runtimes. Missing sources or build tools → { skip }; a failing build
// throws with the log's path (a broken build must fail the tests, not skip them).
// Everything goes to the git-ignored <repo>/.cache/wasm-runtimes/: build.sh runs there once
// (about a minute), the hosts are recompiled with gcc -O2 when test/hosts/*.c|h are newer than
// the binaries. A lock directory (mkdir) serialises concurrent callers (tap runs test files in
// parallel).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOSTS_SRC = join(root, 'test', 'hosts');
const TARBALLS = ['wasm3-src.tar.gz', 'wamr-src.tar.gz'];
const LOCK_WAIT_MS = 15 * 60 * 1000;

/** The first candidate directory holding build.sh and both tarballs, or null. */
function findSources() {
  const env = process.env.BTNN_WASM_RUNTIMES;
  const candidates = env ? [resolve(env)] : [join(root, '..', 'shared', 'tools', 'wasm-runtimes'), '/work/shared/tools/wasm-runtimes'];
  for (const dir of candidates) {
    if (['build.sh', ...TARBALLS].every((f) => existsSync(join(dir, f)))) return { dir };
  }
  return { tried: candidates };
}

function onPath(cmd) {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (!d) continue;
    try {
      if (statSync(join(d, cmd)).isFile()) return true;
    } catch { /* not here */ }
  }
  return false;
}

function run(cmd, args, opts = {}) {
  return new Promise((res) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, ...opts }, (error, stdout, stderr) => {
      res({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, error, out: `${stdout ?? ''}${stderr ?? ''}` });
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Run fn holding the lock directory `lock`; waits for another holder, takes over a dead one's. */
async function withLock(lock, fn) {
  const start = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch { /* being created or removed */ }
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch { continue; }
      // A holder that died leaves its lock: take it over (pid gone, or no pid after 10 s).
      if ((Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) || (Number.isNaN(owner) && age > 10_000)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - start > LOCK_WAIT_MS) throw new Error(`wasm-hosts: timed out waiting for the lock ${lock} (remove it if no build is running)`);
      await sleep(200);
    }
  }
  try {
    writeFileSync(join(lock, 'pid'), String(process.pid));
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** sha256 over build.sh and the tarballs: a different runtime source means a fresh build. */
function sourcesStamp(dir) {
  const h = createHash('sha256');
  for (const f of ['build.sh', ...TARBALLS]) h.update(f).update(readFileSync(join(dir, f)));
  return h.digest('hex');
}

const mtime = (p) => statSync(p).mtimeMs;

async function buildRuntimes(srcDir, cache) {
  const stampFile = join(cache, 'sources.sha256');
  const stamp = sourcesStamp(srcDir);
  const lib = join(cache, 'build-iwasm', 'libiwasm.a');
  const wasm3Src = join(cache, 'src', 'wasm3', 'source');
  const wamrInc = join(cache, 'src', 'wamr', 'core', 'iwasm', 'include');
  const have = existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp &&
    [join(cache, 'wasm3'), join(cache, 'iwasm'), lib, join(wasm3Src, 'wasm3.h'), join(wamrInc, 'wasm_export.h')].every(existsSync);
  if (!have) {
    // Start clean: build.sh reuses any wasm3/iwasm it finds, which may be from other sources.
    for (const e of existsSync(cache) ? readdirSync(cache) : []) rmSync(join(cache, e), { recursive: true, force: true });
    mkdirSync(cache, { recursive: true });
    const log = join(cache, 'build.log');
    process.stderr.write(`wasm-hosts: building wasm3 and WAMR from ${srcDir} into ${cache} (about a minute; log ${log})\n`);
    const t0 = Date.now();
    const r = await run('bash', [join(srcDir, 'build.sh'), cache], {
      env: { ...process.env, JOBS: String(Math.max(2, availableParallelism())) },
    });
    writeFileSync(log, r.out);
    if (r.code !== 0 || !existsSync(lib)) {
      throw new Error(`wasm-hosts: building the runtimes failed (${r.code !== 0 ? `exit ${r.code}` : `no ${lib}`}): see ${log}` +
        ` and the logs under ${cache}/build-*/`);
    }
    writeFileSync(stampFile, stamp + '\n');
    process.stderr.write(`wasm-hosts: runtimes built in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  return { wasm3: join(cache, 'wasm3'), iwasm: join(cache, 'iwasm'), lib, wasm3Src, wamrInc };
}

/** gcc the host `name` unless its binary is newer than its sources and the runtime it embeds. */
async function buildHost(name, deps, args, cache) {
  const dir = join(cache, 'hosts');
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, name);
  if (existsSync(bin) && deps.every((d) => mtime(d) <= mtime(bin))) return bin;
  const tmp = `${bin}.tmp${process.pid}`;
  const log = `${bin}.log`;
  const r = await run('gcc', [...args, '-o', tmp]);
  writeFileSync(log, `gcc ${[...args, '-o', bin].join(' ')}\n${r.out}`);
  if (r.code !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`wasm-hosts: compiling ${name} failed: see ${log}`);
  }
  renameSync(tmp, bin);
  return bin;
}

/**
 * Paths of the built hosts and runtime binaries: { wasm3Host, wamrHost, wasm3, iwasm }, or
 * { skip: reason } when the runtime sources or the build tools are missing. Throws on a failed
 * build (with the log's path).
 */
export async function wasmHosts() {
  const src = findSources();
  if (!src.dir) {
    return { skip: `wasm runtime sources (build.sh, ${TARBALLS.join(', ')}) not found in ${src.tried.join(' or ')}; set BTNN_WASM_RUNTIMES` };
  }
  const missing = ['cmake', 'gcc', 'g++', 'make'].filter((c) => !onPath(c));
  const pkgs = [...missing];
  if (!existsSync('/usr/include/simde/wasm/simd128.h')) {
    missing.push('/usr/include/simde');
    pkgs.push('libsimde-dev');
  }
  if (missing.length) {
    return { skip: `${missing.join(', ')} missing, needed to build wasm3/WAMR: apt-get install -y ${pkgs.join(' ')}` };
  }

  const cache = join(root, '.cache', 'wasm-runtimes');
  mkdirSync(dirname(cache), { recursive: true });
  return withLock(`${cache}.lock`, async () => {
    const rt = await buildRuntimes(src.dir, cache);
    const common = join(HOSTS_SRC, 'host-common.h');
    const opt = ['-std=c99', '-D_POSIX_C_SOURCE=200809L', '-O2'];
    const wasm3Sources = readdirSync(rt.wasm3Src).filter((f) => f.endsWith('.c')).sort().map((f) => join(rt.wasm3Src, f));
    const wasm3Host = await buildHost('wasm3-host', [join(HOSTS_SRC, 'wasm3-host.c'), common, join(rt.wasm3Src, 'wasm3.h')],
      [...opt, '-I', rt.wasm3Src, join(HOSTS_SRC, 'wasm3-host.c'), ...wasm3Sources, '-lm'], cache);
    const wamrHost = await buildHost('wamr-host', [join(HOSTS_SRC, 'wamr-host.c'), common, rt.lib],
      [...opt, '-I', rt.wamrInc, join(HOSTS_SRC, 'wamr-host.c'), rt.lib, '-lm', '-ldl', '-lpthread'], cache);
    return { wasm3Host, wamrHost, wasm3: rt.wasm3, iwasm: rt.iwasm };
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    const h = await wasmHosts();
    if (h.skip) {
      console.log(`skip: ${h.skip}`);
    } else {
      for (const [k, v] of Object.entries(h)) console.log(`${k} ${v}`);
    }
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
