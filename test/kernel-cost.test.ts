// The planner's kernel cost model (src/tn/cost.ts): the non-negative least squares recovers known
// rates from ops' features, keeps every rate ≥ 0 at a KKT point when the truth has a negative one,
// and the int16 step converts exactly the GEMMs the model prices cheaper at int16. No timing here:
// `npm run bench -- --calibrate` measures.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { costFeatures, fitRates, FEATURES, MEASURED_RATES, nnls, opNs, type CostSample, type KernelRates } from '../src/tn/cost.js';
import { prepare } from '../src/prepare/prepare.js';
import { defaultSpec } from '../src/spec/defaults.js';
import { FORMATS } from '../src/spec/formats.js';
import { int16Spec } from './helpers/int16-spec.js';
import type { Op } from '../src/tn/compile.js';
import { HostRng } from '../src/util/rng.js';

const BENCH = join(import.meta.dirname, '..', 'build', 'js', 'src', 'bench', 'main.js');
type Gemm = Extract<Op, { op: 'gemm' }>;
const r0 = { buf: 'a', off: 0 };

function randomGemm(rng: HostRng): Gemm {
  const pick = (xs: number[]): number => xs[rng.below(xs.length)];
  const m = pick([1, 2, 3, 4, 7, 16, 32, 128]), n = pick([1, 3, 4, 8, 10, 20, 64, 512]), k = pick([1, 7, 16, 28, 128, 784]);
  const t = pick([1, 1, 2, 16]), h = pick([1, 1, 4]);
  return { op: 'gemm', a: r0, b: r0, c: r0, sai: k, sak: 1, strideA: m * k, ldb: n, strideB: k * n, ldc: n, m, n, k, t, acc: false, h, ha: t * m * k, hb: t * k * n, hc: m * n };
}

t.test('nnls recovers the rates that made the samples: exactly without noise, to a few % with 2% noise', async (t) => {
  const rng = new HostRng(7);
  const truth: KernelRates = structuredClone(MEASURED_RATES);
  truth.gemm = [40, 25, 0.05, 0.12, 0.6, 0.2];
  const ops = Array.from({ length: 300 }, () => randomGemm(rng));
  const exact: CostSample[] = ops.map((o) => ({ kind: 'gemm', x: costFeatures(o)!.x, ns: opNs(o, truth) }));
  const fit = fitRates(exact).gemm;
  fit.forEach((v, i) => t.ok(Math.abs(v / truth.gemm[i] - 1) < 1e-6, `${FEATURES.gemm[i]}: ${v} vs ${truth.gemm[i]}`));
  const noisy = exact.map((s) => ({ ...s, ns: s.ns * (1 + 0.02 * (2 * rng.uniform() - 1)) }));
  const fitNoisy = fitRates(noisy);
  // Held-out ops: the noisy fit predicts within a few % of the truth (the features it cannot tell apart trade off).
  const held = Array.from({ length: 100 }, () => randomGemm(rng));
  const worst = Math.max(...held.map((o) => Math.abs(opNs(o, fitNoisy) / opNs(o, truth) - 1)));
  t.ok(worst < 0.05, `worst held-out error ${(100 * worst).toFixed(2)}%`);
  // A kind without enough samples keeps the fallback's rates.
  t.same(fitNoisy.permute, MEASURED_RATES.permute);
});

t.test('nnls keeps rates ≥ 0 and stops at a KKT point when the best unconstrained fit has a negative rate', async (t) => {
  const rng = new HostRng(11);
  const xs = Array.from({ length: 60 }, () => [1, rng.uniform() * 10, rng.uniform() * 10]);
  const ys = xs.map((x) => 5 + 2 * x[1] - 0.5 * x[2] + 0.1 * rng.uniform());
  const r = nnls(xs, ys);
  t.ok(r.every((v) => v >= 0), `rates ${r.map((v) => v.toFixed(3)).join(', ')}`);
  t.equal(r[2], 0, 'the negative feature is clamped to 0');
  // KKT: the residual's gradient is ~0 on free rates and ≤ 0 on clamped ones.
  const resid = ys.map((y, i) => y - xs[i].reduce((s, v, j) => s + v * r[j], 0));
  const grad = [0, 1, 2].map((j) => xs.reduce((s, x, i) => s + x[j] * resid[i], 0));
  const scale = xs.reduce((s, x) => s + x[1] * x[1], 0);
  t.ok(Math.abs(grad[0]) < 1e-6 * scale && Math.abs(grad[1]) < 1e-6 * scale, `free gradients ${grad[0]}, ${grad[1]}`);
  t.ok(grad[2] <= 1e-6 * scale, `clamped gradient ${grad[2]} ≤ 0`);
});

t.test('int16 training: a GEMM runs int16 exactly when the model prices its int16 form cheaper', async (t) => {
  const lanes = 4;
  for (const format of FORMATS) {
    // Every format's default network, and for one whose GEMMs all stay f32 there (TT) the same network at another rank besides.
    const { spec, maxRank } = int16Spec(format);
    for (const [net, s] of [...(maxRank === 'default' ? [] : [['default', defaultSpec(format)] as const]), [String(maxRank), spec] as const]) {
      const p = prepare(s, { batch: 128, mode: 'train', lanes, precision: 'int16' });
      const f = prepare(s, { batch: 128, mode: 'train', lanes, precision: 'f32' });
      const progs = (q: typeof p): Op[][] => Object.values(q.programs).flatMap((ps) => ps.map((x: { ops: Op[] }) => x.ops));
      const at16 = progs(p), at32 = progs(f);
      const packs = [...p.programs.pack, ...p.programs.gradPack];
      t.equal(at16.length, at32.length + packs.length, `${format}: the same programs plus the pack phases`);
      let int16Ops = 0, wrong = 0;
      const base32 = at32.flat().filter((o) => o.op === 'gemm');
      const mine = at16.filter((_, i) => !packs.some((x) => x.ops === at16[i])).flat().filter((o) => o.op === 'gemm' || o.op === 'gemmI16');
      // A packed B's pack jobs, priced whole and shared by the GEMMs that read it.
      const packNs = (buf: string): number => packs.flatMap((x) => x.ops).filter((o) => o.op === 'packI16' && o.dst.buf === buf).reduce((n, o) => n + opNs(o), 0);
      const readers = (buf: string): number => mine.filter((o) => o.op === 'gemmI16' && o.bPacked?.buf === buf).length;
      t.equal(mine.length, base32.length, `${format}: one GEMM for each f32 GEMM`);
      mine.forEach((o, i) => {
        const g = base32[i];
        const f32Ns = opNs(g);
        if (o.op === 'gemmI16') {
          int16Ops++;
          const pack = o.bPacked ? packNs(o.bPacked.buf) / readers(o.bPacked.buf) : 0;
          if (!(opNs(o) + pack < f32Ns)) wrong++;
        } else {
          const nearest: Op = { ...g, op: 'gemmI16', mode: 0 };
          // The cheapest int16 form it could have had (B packed once, amortised) must not beat it.
          const best = Math.min(opNs(nearest), opNs({ ...nearest, bPacked: g.b }) + opNs({ op: 'packI16', dst: g.b, b: g.b, ldb: g.ldb, strideB: g.strideB, n: g.n, k: g.k, t: g.t }) / lanes);
          if (best < f32Ns && opNs({ ...g, op: 'gemmI16', mode: 3, seed: g.a, stream: 0 }) < f32Ns) wrong++;
        }
      });
      t.equal(wrong, 0, `${format} (max rank ${net}): ${int16Ops} of ${mine.length} GEMMs int16, each where the model says it is faster`);
      if (net === String(maxRank)) t.ok(int16Ops > 0, `${format} (max rank ${net}): some GEMMs run int16`);
    }
  }
});

t.test('--calibrate is its own run: with --peers or --export it exits 2', async (t) => {
  const r = spawnSync(process.execPath, [BENCH, '--calibrate', '--peers'], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 2);
  t.match(r.stderr, /--peers and --calibrate are separate runs/);
  const h = spawnSync(process.execPath, [BENCH, '--help'], { encoding: 'utf8', timeout: 60_000 });
  t.match(h.stdout, /--calibrate/);
});

t.test('--profile: every op of a step timed, summed by phase and kind; bad values exit 2', async (t) => {
  const r = spawnSync(process.execPath, [BENCH, '--profile', '--precision', 'int16', '--rounds', '1', '--json'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, r.stderr);
  const p = JSON.parse(r.stdout).profile;
  t.equal(p.format, 'ttm');
  t.ok(p.rows.length > 10 && p.rows.every((x: { ms: number }) => x.ms >= 0), `${p.rows.length} op rows`);
  const rowsMs = p.rows.reduce((s: number, x: { ms: number }) => s + x.ms, 0);
  t.ok(Math.abs(rowsMs - p.opsMs) < 1e-9 * Math.max(1, p.opsMs), 'the rows add up to the ops total');
  t.ok(Math.abs(Object.values(p.byPhase as Record<string, number>).reduce((a, b) => a + b, 0) - p.opsMs) < 1e-6, 'so do the phases');
  t.ok(p.byKind.gemmI16 > 0 && p.byPhase.pack > 0, 'the int16 GEMMs and the pack phase are in it');
  t.ok(p.opsMs <= p.profiledStepMs * 1.05 && p.opsMs > 0.3 * p.profiledStepMs, `ops ${p.opsMs.toFixed(2)} of a ${p.profiledStepMs.toFixed(2)} ms step`);
  for (const [args, msg] of [[['--profile', '--format', 'cnn'], /--format "cnn": must be one of/], [['--profile', '--precision', 'int8'], /--precision "int8": must be f32 or int16/], [['--format', 'tt'], /apply to --profile only/], [['--profile', '--peers'], /separate runs/]] as const) {
    const b = spawnSync(process.execPath, [BENCH, ...args], { encoding: 'utf8', timeout: 60_000 });
    t.equal(b.status, 2, args.join(' '));
    t.match(b.stderr, msg);
  }
});
