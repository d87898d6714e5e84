// `btnn simulate`: does training or inference of a model fit a device? (hw-sim/simulate.ts)
import { existsSync, statSync } from 'node:fs';
import { defaultSpec } from '../spec/defaults.js';
import type { ModelSpec } from '../spec/types.js';
import { modelParams } from '../model/layers.js';
import { loadDevice, listDevices } from '../../hw-sim/devices.js';
import { simulate, reportFits, validateRankHistory, type RankHistoryPoint } from '../../hw-sim/simulate.js';
import { formatSummary, writeReports } from '../../hw-sim/report.js';
import { UsageError, choiceOption, intOption, numberOption, type Command, type Values } from './options.js';
import { loadModel, type LoadedModel } from '../model/file.js';
import { capRanks } from '../ard/cap-ranks.js';
import { evaluateQuant } from '../export/evaluate-quant.js';
import { MODEL_OPTIONS, parseModel } from './train.js';
import { modelPath } from './model-path.js';

/** The spec at a max rank: rebuilt (the default network or a --hidden one) or the model's ranks capped. */
type AtMaxRank = (R: number) => ModelSpec;
const capped = (spec: ModelSpec): AtMaxRank => (R) => ({ ...spec, layers: spec.layers.map((l) => ('ranks' in l && l.ranks ? { ...l, ranks: l.ranks.map((r) => Math.min(r, R)) } : l)) });

function largestFittingRank(atMaxRank: AtMaxRank, device: ReturnType<typeof loadDevice>, mode: 'train' | 'infer', bits: 8 | 16 | 32, batch: number, lanes: number) {
  let best = { maxRank: 0, params: 0, totalBytes: 0, marginBytes: 0 };
  for (let R = 1; R <= 64; R++) {
    const s = atMaxRank(R);
    const r = simulate({ spec: s, device, mode, bits, batch, lanes });
    if (R === 1 && !reportFits(r)) return { ...best, totalBytes: r.deployment ? r.deployment.ramBytes : r.totalBytes };
    // Inference answers for the exported module (RAM: its arena, constants in flash where there is flash).
    const bytes = r.deployment ? r.deployment.ramBytes : r.totalBytes;
    if (reportFits(r)) best = { maxRank: R, params: modelParams(s), totalBytes: bytes, marginBytes: (r.deployment?.ramBudgetBytes ?? r.budgetBytes) - bytes };
  }
  return best;
}

/**
 * --fit --max-drop P: per bit width, the largest max rank whose exported module fits the device
 * AND whose quantised accuracy is within P points of the trained model's own f32 accuracy —
 * evaluated: the model truncated to each rank (src/ard/cap-ranks.ts), quantised as `export` does,
 * run in the core on the test rows.
 */
async function fitByAccuracy(model: LoadedModel, device: ReturnType<typeof loadDevice>, widths: (8 | 16 | 32)[], maxDrop: number, limitTest: number, json: boolean): Promise<number> {
  const baseline = (await evaluateQuant(model, { bits: 16, limitTest })).f32Accuracy;
  const top = Math.max(1, ...model.spec.layers.flatMap((l) => ('ranks' in l && l.ranks ? l.ranks : [1])));
  const fit = [];
  for (const b of widths) {
    let answer = { bits: b, maxRank: 0, params: 0, ramBytes: 0, flashBytes: 0, accuracy: 0, dropPoints: 0 };
    for (let R = top; R >= 1; R--) {
      const capped = capRanks(model, R);
      const r = simulate({ spec: capped.spec, device, mode: 'infer', bits: b, batch: 1 });
      if (!reportFits(r)) continue;
      const e = await evaluateQuant(capped, { bits: b === 32 ? 16 : b, limitTest });
      const accuracy = b === 32 ? e.f32Accuracy : e.testAccuracy;
      const drop = 100 * (baseline - accuracy);
      process.stderr.write(`btnn: ${b}-bit, max rank ${R}: fits, ${(100 * accuracy).toFixed(2)} % (drop ${drop.toFixed(2)} points)\n`);
      if (drop <= maxDrop) {
        answer = { bits: b, maxRank: R, params: modelParams(capped.spec), ramBytes: r.deployment?.ramBytes ?? r.totalBytes, flashBytes: r.deployment?.flashBytes ?? 0, accuracy, dropPoints: drop };
        break;
      }
    }
    fit.push(answer);
  }
  if (json) process.stdout.write(JSON.stringify({ device: device.id, mode: 'infer', maxDropPoints: maxDrop, testRows: limitTest, f32Accuracy: baseline, fit }, null, 2) + '\n');
  else {
    console.log(`largest max rank whose exported module fits ${device.id} and stays within ${maxDrop} points of the model's f32 ${(100 * baseline).toFixed(2)} % (${limitTest} test rows):`);
    for (const f of fit) {
      console.log(`  ${String(f.bits).padStart(2)}-bit: ${f.maxRank === 0 ? 'none' : `max rank ${f.maxRank}, ${f.params} params, ${(100 * f.accuracy).toFixed(2)} % (drop ${f.dropPoints.toFixed(2)}), RAM ${f.ramBytes} bytes, flash ${f.flashBytes} bytes`}`);
    }
  }
  return fit.some((f) => f.maxRank > 0) ? 0 : EXIT_DOES_NOT_FIT;
}

function run(values: Values): number | Promise<number> {
  const deviceName = values.device as string | undefined;
  const deviceFile = values['device-file'] as string | undefined;
  if (!deviceName && !deviceFile) throw new UsageError(`simulate needs --device NAME (one of ${listDevices().join(', ')}) or --device-file FILE`);
  const mode = choiceOption(values, 'mode', ['train', 'infer'] as const, 'train');
  const bits = Number(choiceOption(values, 'bits', ['8', '16', '32'] as const, '32')) as 8 | 16 | 32;
  const batch = intOption(values, 'batch', mode === 'train' ? 128 : 1, 1, 65536)!;
  const lanes = intOption(values, 'lanes', 1, 1, 64)!;
  const out = values.out as string | undefined;
  if (out !== undefined && (out === '' || (existsSync(out) && !statSync(out).isDirectory()))) throw new UsageError(`--out ${out}: ${out === '' ? 'give a directory' : 'is a file; --out names a directory for report.json, report.md and report.html'}`);
  const device = loadDevice(deviceName ?? '', deviceFile);
  let spec: ModelSpec;
  let atMaxRank: AtMaxRank;
  let rankHistory: RankHistoryPoint[] | undefined;
  if (values.model !== undefined) {
    if (values.spec !== undefined) throw new UsageError('give --model FILE or --spec default|FILE.json, not both');
    for (const o of ['format', 'max-rank']) if (values[o] !== undefined) throw new UsageError(`--${o} shapes the default network; with --model the file gives every layer: drop --${o}`);
    const path = modelPath('--model', values.model as string, 'simulate');
    const loaded = loadModel(path);
    spec = loaded.spec;
    atMaxRank = capped(spec);
    try {
      if (loaded.metadata['btnn.history']) rankHistory = JSON.parse(loaded.metadata['btnn.history']);
    } catch {
      throw new UsageError(`${path}: __metadata__ btnn.history is not valid JSON; the file was altered`);
    }
    if (rankHistory !== undefined) rankHistory = validateRankHistory(rankHistory, `${path}: __metadata__ btnn.history`);
  } else {
    const m = parseModel(values);
    spec = m.spec ?? defaultSpec(m.format, m.maxRank);
    // The default network and a --hidden one are rebuilt at each max rank; a spec file is capped.
    atMaxRank = values.hidden !== undefined ? (R) => parseModel({ ...values, 'max-rank': String(R) }).spec!
      : m.spec ? capped(m.spec) : (R) => defaultSpec(m.format, R);
  }
  if (values['max-drop'] !== undefined) {
    if (!values.fit || values.model === undefined || mode !== 'infer') throw new UsageError('--max-drop P goes with --fit --model FILE --mode infer (it evaluates the trained model truncated to each max rank)');
    if (out !== undefined) throw new UsageError('--out writes the reports of one simulation; --fit prints its answer only: drop one of them');
    return fitByAccuracy(loadModel(modelPath('--model', values.model as string, 'simulate')), device, values.bits !== undefined ? [bits] : [16, 8], numberOption(values, 'max-drop', 1, 0, 100),
      intOption(values, 'limit-test', 2000, 1, 2 ** 31)!, Boolean(values.json));
  }
  if (values['limit-test'] !== undefined) throw new UsageError('--limit-test goes with --fit --max-drop (the rows each truncated model is scored on)');
  if (values.fit) {
    const widths = values.bits !== undefined ? [bits] : [32, 16, 8] as const;
    const fit = widths.map((b) => ({ bits: b, ...largestFittingRank(atMaxRank, device, mode, b as 8 | 16 | 32, batch, lanes) }));
    if (values.json) {
      process.stdout.write(JSON.stringify({ device: device.id, mode, batch, lanes, fit, accuracy: 'not evaluated: --fit answers memory only; measure a trained model with btnn eval --model M --bits B' }, null, 2) + '\n');
    } else {
      console.log(`largest max rank whose ${mode} plan (batch ${batch}, ${lanes} lane(s)) fits ${device.id} (${device.budgetBytes} bytes):`);
      for (const f of fit) {
        console.log(`  ${String(f.bits).padStart(2)}-bit: ${f.maxRank === 0 ? 'none (even max rank 1 needs ' + f.totalBytes + ' bytes)' : `max rank ${f.maxRank === 64 ? '≥ 64' : f.maxRank}, ${f.params} params, ${f.totalBytes} bytes (${f.marginBytes} to spare)`}`);
      }
      console.log('  (memory only: measure a trained model\'s accuracy at a width with btnn eval --model M --bits B)');
    }
    if (out !== undefined) throw new UsageError('--out writes the reports of one simulation; --fit prints its answer only: drop one of them');
    return 0;
  }
  const report = simulate({ spec, device, mode, bits, batch, lanes, rankHistory });
  if (values.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write(formatSummary(report) + '\n');
  if (out !== undefined) {
    let paths;
    try {
      paths = writeReports(out, report);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (!code) throw err;
      throw new UsageError(`--out ${out}: cannot write there (${code}); choose a writable directory`);
    }
    if (!values.json) console.log(`wrote ${Object.values(paths).join(', ')}`);
  }
  return reportFits(report) ? 0 : EXIT_DOES_NOT_FIT;
}

/** Exit status when the model does not fit the device (documented in --help). */
const EXIT_DOES_NOT_FIT = 3;

export const SIMULATE: Command = {
  name: 'simulate',
  summary: 'does training or inference of a model fit a device? memory plan against its budget, time and energy per layer',
  usage: 'btnn simulate --device NAME [--model FILE | --spec default|FILE.json] [--mode train|infer] [--bits 8|16|32] [--batch N] [--lanes N] [--out DIR] [--json] [--fit]',
  options: {
    device: { type: 'string', arg: 'NAME', help: `built-in profile: ${listDevices().join(', ')}` },
    'device-file': { type: 'string', arg: 'FILE', help: 'your own profile (JSON, same fields); --device then names its id' },
    model: { type: 'string', arg: 'FILE', help: 'a model.safetensors (its spec and, for ARD models, its rank history)' },
    ...MODEL_OPTIONS,
    spec: { type: 'string', arg: 'default|FILE.json', help: 'the default MNIST spec (default; --format and --max-rank apply as in\ntrain), or a ModelSpec file' },
    mode: { type: 'string', arg: 'train|infer', help: 'what must fit (default train)' },
    bits: { type: 'string', arg: '8|16|32', help: 'element width: the exported module at that width is exact (mode infer);\nthe Node runtime plan at 8 and 16 is a projection (it trains in f32)' },
    batch: { type: 'string', arg: 'N', help: 'batch size (default 128 for train, 1 for infer)' },
    lanes: { type: 'string', arg: 'N', help: 'batch lanes, as train\'s --lanes (default 1: the leanest plan); with the\nsame --batch and --lanes the plan is exactly what train allocates' },
    out: { type: 'string', arg: 'DIR', help: 'also write DIR/report.json, report.md, report.html' },
    json: { type: 'boolean', help: 'print report.json on stdout instead of the summary' },
    'max-drop': { type: 'string', arg: 'P', help: 'with --fit --model FILE --mode infer: also require the quantised accuracy\nto stay within P points of the model\'s f32 accuracy, evaluated on the\nmodel truncated to each max rank (widths 16 and 8, or --bits)' },
    'limit-test': { type: 'string', arg: 'N', help: 'with --max-drop: test rows each truncated model is scored on (default 2000)' },
    fit: { type: 'boolean', help: 'the inverse question: for 32-, 16- and 8-bit elements (or --bits), the\nlargest max rank (1..64; the model\'s ranks capped at it, or the default\nspec built at it) whose plan fits the device; for --mode infer the exported\nmodule\'s (RAM: its arena; constants in flash where the device has it).\nMemory only: measure accuracy with btnn eval --model M --bits B' },
  },
  notes: [
    'Exit status: 0 fits; 3 does not fit (the summary names the biggest consumer); 2 a usage error.',
    '--mode infer also reports the exported module (btnn export --bits B, one row): its constants',
    '(weights in their tensor format, biases, tables) and program in flash where the device has flash,',
    'its arena in RAM — the verdict and exit status are that module\'s. Posterior scales never count.',
  ].join('\n'),
  run: (values) => run(values),
};
