// `npm run bench -- --export DIR…`: per-sample latency of exported modules (btnn export) in V8,
// WAMR and wasm3, interleaved in one sitting: for each round, every module on every runtime over
// the same rows; medians over rounds. The interpreters run through the C test hosts
// (test/hosts, built by src/scripts/wasm-hosts.mjs); absent, they are skipped with the reason.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadData } from '../data/source.js';
import { WasmModel } from '../export/module.js';
import type { ClassRule } from '../image/abi.js';
import { median } from '../util/math.js';


export interface LatencyRow { dir: string; bits: number; moduleBytes: number; weightsBytes: number; arenaBytes: number; v8Us: number; wamrUs: number | null; wasm3Us: number | null }

export async function exportLatency(dirs: string[], o: { rows: number; rounds: number; hosts: { wasm3Host?: string; wamrHost?: string } }): Promise<LatencyRow[]> {
  const images = loadData('mnist').test.inputs[0].data as Uint8Array;
  const tmp = mkdtempSync(join(tmpdir(), 'btnn-lat-'));
  try {
    const models = await Promise.all(dirs.map(async (dir) => {
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
      if (json.inputs.length !== 1 || json.inputs[0].dtype !== 'u8') throw new Error(`${dir}: the latency bench feeds MNIST bytes; this module reads ${JSON.stringify(json.inputs)}`);
      const bytes = new Uint8Array(readFileSync(join(dir, 'model.wasm')));
      const rows = join(tmp, 'rows.bin');
      writeFileSync(rows, images.subarray(0, o.rows * 784));
      return { dir, json, bytes, rows, v8: await WasmModel.load(bytes, json.classRule as ClassRule), times: { v8: [] as number[], wamr: [] as number[], wasm3: [] as number[] } };
    }));
    const host = (exe: string, model: string, rows: string): number => {
      const out = execFileSync(exe, [model, 'time', rows, '1'], { encoding: 'utf8' });
      return Number(/ns_per_row_median (\S+)/.exec(out)![1]) / 1000;
    };
    for (let r = 0; r < o.rounds; r++) {
      for (const m of models) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < o.rows; i++) m.v8.run(images, i * 784);
        m.times.v8.push(Number(process.hrtime.bigint() - t0) / 1000 / o.rows);
        const file = join(m.dir, 'model.wasm');
        if (o.hosts.wamrHost) m.times.wamr.push(host(o.hosts.wamrHost, file, m.rows));
        if (o.hosts.wasm3Host && m.json.target === 'wasm') m.times.wasm3.push(host(o.hosts.wasm3Host, file, m.rows));
      }
    }
    return models.map((m) => ({
      dir: m.dir, bits: m.json.bits, moduleBytes: m.bytes.length, weightsBytes: m.json.weightsBytes, arenaBytes: m.json.arenaBytes,
      v8Us: median(m.times.v8), wamrUs: m.times.wamr.length ? median(m.times.wamr) : null, wasm3Us: m.times.wasm3.length ? median(m.times.wasm3) : null,
    }));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
