// Device profiles: what the memory planner, the cost model and the reports know about a target.
// A profile is plain JSON (hw-sim/devices/<id>.json, fields documented in hw-sim/devices/README.md);
// a user adds a device with `--device-file my-board.json`. Every profile is validated field by
// field, and every error names the file, the field, the value and what to write instead.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { showValue } from '../src/util/show.js';

export type DeviceKind = 'cpu' | 'mcu' | 'fpga';
/** cache: not allocatable (use must be []); flash: read-only at run time (no activations/scratch). */
export type MemoryKind = 'cache' | 'sram' | 'dram' | 'psram' | 'flash' | 'bram';
/** weights: parameters read by inference; activations / scratch: writable buffers (training needs these). */
export type MemoryUse = 'weights' | 'activations' | 'scratch' | 'code';

export interface MemoryLevel {
  name: string;
  kind: MemoryKind;
  bytes: number;
  /** Peak interface bandwidth (an upper bound), or null when no source gives one. */
  bandwidthBytesPerSec: number | null;
  use: MemoryUse[];
}

/** Peak multiply-accumulates per cycle per core for one instruction stream; null when unknown. */
export interface MacsPerCycle {
  f32: number | null;
  int16: number | null;
  int8: number | null;
}

export interface Compute {
  clockHz: number;
  cores: number;
  /** Width of the vector registers used for MACs, or null (no SIMD / not applicable). */
  simdBits: number | null;
  macsPerCycle: MacsPerCycle;
}

export const ENERGY_KEYS = [
  'int8Add', 'int32Add', 'fp16Add', 'fp32Add',
  'int8Mult', 'int32Mult', 'fp16Mult', 'fp32Mult',
  'sram8KiBRead64', 'sram32KiBRead64', 'sram1MiBRead64', 'dramRead64Min', 'dramRead64Max',
] as const;
export type EnergyKey = (typeof ENERGY_KEYS)[number];

/** Energy per operation in picojoules; `basis` says where the numbers come from (e.g. a 45 nm table). */
export type EnergyPj = { basis: string } & { [K in EnergyKey]?: number | null };

export interface FpgaResources {
  bramBlocks: number;
  /** Bits per block RAM including parity bits (Xilinx 7-series RAMB36: 36,864). */
  bramBlockBits: number;
  /** bramBlocks × bramBlockBits. */
  bramBits: number;
  dspSlices: number;
  /** Signed operand widths of one DSP multiplier, e.g. [25, 18] for DSP48E1. */
  dspMultiplierWidths: [number, number];
  luts: number;
  flipFlops: number;
  distributedRamBits: number;
}

export interface SourceRef {
  /** Path of the field this cites, e.g. `memory[1].bytes`; a prefix (`energyPj`) covers all fields under it. */
  field: string;
  /** The value as the source states it (may differ in unit from the field). */
  value: string | number;
  /** Document (title, number, URL), or `estimate: <derivation>`. */
  source: string;
}

export interface DeviceProfile {
  id: string;
  name: string;
  kind: DeviceKind;
  notes?: string;
  memory: MemoryLevel[];
  /** Bytes a model's memory plan may use on this device (derivation in `sources`). */
  budgetBytes: number;
  compute: Compute;
  energyPj: EnergyPj | null;
  fpga?: FpgaResources;
  sources: SourceRef[];
}

export class DeviceError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    readonly value: unknown,
    problem: string,
  ) {
    super([file, field ? `${field} = ${show(value)}` : '', problem].filter((x) => x !== '').join(': '));
    this.name = 'DeviceError';
  }
}

/** Bounded and never throwing (src/util/show.ts): deeply nested JSON must give a DeviceError, not a stack overflow. */
function show(v: unknown): string {
  return v === undefined ? '(missing)' : showValue(v, 80);
}

/** The built-in profiles: hw-sim/devices/ at the package root, found from this file's location
 * (hw-sim/ when run from sources, build/js/hw-sim/ when compiled; tsc does not copy the JSON). */
export function devicesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'hw-sim', 'devices');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error(`hw-sim/devices/ not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Ids of the built-in profiles, sorted. */
export function listDevices(): string[] {
  return readdirSync(devicesDir())
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

const looksLikePath = (s: string) => s.endsWith('.json') || s.includes('/') || s.includes('\\');

/**
 * A validated profile: `loadDevice('rpi4')` (built-in), `loadDevice('my.json')` (a file), or
 * `loadDevice(id, deviceFile)` for `--device <id> --device-file <file>` (the file's id must be `id`;
 * pass '' as id to take whatever the file holds).
 */
export function loadDevice(idOrPath: string, deviceFile?: string): DeviceProfile {
  if (deviceFile !== undefined) {
    const p = readProfileFile(deviceFile, deviceFile);
    if (idOrPath !== '' && p.id !== idOrPath) {
      throw new DeviceError(deviceFile, 'id', p.id, `the file holds device "${p.id}", not "${idOrPath}": pass --device ${p.id} or fix the id`);
    }
    return p;
  }
  if (looksLikePath(idOrPath)) return readProfileFile(idOrPath, idOrPath);
  const known = listDevices();
  if (!known.includes(idOrPath)) {
    throw new DeviceError('', '', idOrPath, `unknown device "${idOrPath}": known devices are ${known.join(', ')}; or describe yours in a JSON file and pass --device-file <file>`);
  }
  const file = `${idOrPath}.json`;
  const p = readProfileFile(join(devicesDir(), file), file);
  if (p.id !== idOrPath) throw new DeviceError(file, 'id', p.id, `must equal the file name "${idOrPath}"`);
  return p;
}

function readProfileFile(path: string, label: string): DeviceProfile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DeviceError(label, '', undefined, `cannot read the device file (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DeviceError(label, '', undefined, `not valid JSON (${(e as Error).message})`);
  }
  return validateDevice(json, label);
}

// ---- validation ----------------------------------------------------------------------------

const DEVICE_KINDS: readonly DeviceKind[] = ['cpu', 'mcu', 'fpga'];
const MEMORY_KINDS: readonly MemoryKind[] = ['cache', 'sram', 'dram', 'psram', 'flash', 'bram'];
const MEMORY_USES: readonly MemoryUse[] = ['weights', 'activations', 'scratch', 'code'];
const TOP_KEYS = ['id', 'name', 'kind', 'notes', 'memory', 'budgetBytes', 'compute', 'energyPj', 'fpga', 'sources'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks every field of `json`; `file` is the name used in error messages. */
export function validateDevice(json: unknown, file: string): DeviceProfile {
  const fail = (field: string, value: unknown, problem: string): never => {
    throw new DeviceError(file, field, value, problem);
  };
  const obj = (v: unknown, field: string): Obj => (isObj(v) ? v : fail(field, v, 'must be a JSON object'));
  const onlyKeys = (o: Obj, allowed: readonly string[], at: string) => {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) fail(at ? `${at}.${k}` : k, o[k], `unknown field; allowed fields here: ${allowed.join(', ')}`);
    }
  };
  const str = (v: unknown, field: string): string =>
    typeof v === 'string' && v.trim() !== '' ? v : fail(field, v, 'must be a non-empty string');
  const oneOf = <T extends string>(v: unknown, field: string, allowed: readonly T[]): T =>
    allowed.includes(v as T) ? (v as T) : fail(field, v, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  const posInt = (v: unknown, field: string): number =>
    Number.isSafeInteger(v) && (v as number) > 0 ? (v as number) : fail(field, v, 'must be an integer > 0');
  const posNum = (v: unknown, field: string): number =>
    typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fail(field, v, 'must be a number > 0');
  const posNumOrNull = (v: unknown, field: string): number | null =>
    v === null ? null : typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fail(field, v, 'must be a number > 0, or null when unknown');
  const posIntOrNull = (v: unknown, field: string): number | null =>
    v === null ? null : Number.isSafeInteger(v) && (v as number) > 0 ? (v as number) : fail(field, v, 'must be an integer > 0, or null');

  const o = obj(json, '(top level)');
  onlyKeys(o, TOP_KEYS, '');
  const id = str(o.id, 'id');
  if (!/^[a-z0-9][a-z0-9-]*$/.test(id)) fail('id', id, 'must be lower-case letters, digits and "-" (e.g. "my-board")');
  const name = str(o.name, 'name');
  const kind = oneOf(o.kind, 'kind', DEVICE_KINDS);
  const notes = o.notes === undefined ? undefined : str(o.notes, 'notes');

  if (!Array.isArray(o.memory) || o.memory.length === 0) fail('memory', o.memory, 'must be a non-empty array of memory levels');
  const names = new Set<string>();
  const memory: MemoryLevel[] = (o.memory as unknown[]).map((raw, i) => {
    const at = `memory[${i}]`;
    const m = obj(raw, at);
    onlyKeys(m, ['name', 'kind', 'bytes', 'bandwidthBytesPerSec', 'use'], at);
    const levelName = str(m.name, `${at}.name`);
    if (names.has(levelName)) fail(`${at}.name`, levelName, 'is used by another level: names must be unique');
    names.add(levelName);
    const levelKind = oneOf(m.kind, `${at}.kind`, MEMORY_KINDS);
    const bytes = posInt(m.bytes, `${at}.bytes`);
    if (!('bandwidthBytesPerSec' in m)) fail(`${at}.bandwidthBytesPerSec`, undefined, 'must be a number > 0, or null when unknown');
    const bw = posNumOrNull(m.bandwidthBytesPerSec, `${at}.bandwidthBytesPerSec`);
    if (!Array.isArray(m.use)) fail(`${at}.use`, m.use, `must be an array of ${MEMORY_USES.map((u) => `"${u}"`).join(', ')} (or [] for a cache)`);
    const use = (m.use as unknown[]).map((u, j) => oneOf(u, `${at}.use[${j}]`, MEMORY_USES));
    if (new Set(use).size !== use.length) fail(`${at}.use`, m.use, 'lists a use twice');
    if (levelKind === 'cache' && use.length > 0) fail(`${at}.use`, m.use, 'must be [] for a cache: buffers are not allocated in a cache');
    if (levelKind === 'flash' && (use.includes('activations') || use.includes('scratch'))) {
      fail(`${at}.use`, m.use, 'flash is read-only at run time: use ["weights", "code"] or a subset');
    }
    return { name: levelName, kind: levelKind, bytes, bandwidthBytesPerSec: bw, use };
  });

  const budgetBytes = posInt(o.budgetBytes, 'budgetBytes');
  const writable = memory.filter((m) => m.use.includes('activations'));
  const writableBytes = writable.reduce((s, m) => s + m.bytes, 0);
  if (budgetBytes > writableBytes) {
    fail('budgetBytes', budgetBytes, `must be <= ${writableBytes}, the bytes of the levels that can hold activations (${writable.map((m) => m.name).join(', ') || 'none'})`);
  }

  const c = obj(o.compute, 'compute');
  onlyKeys(c, ['clockHz', 'cores', 'simdBits', 'macsPerCycle'], 'compute');
  const mpc = obj(c.macsPerCycle, 'compute.macsPerCycle');
  onlyKeys(mpc, ['f32', 'int16', 'int8'], 'compute.macsPerCycle');
  const mac = (k: 'f32' | 'int16' | 'int8') => {
    if (!(k in mpc)) fail(`compute.macsPerCycle.${k}`, undefined, 'must be a number > 0, or null when unknown');
    return posNumOrNull(mpc[k], `compute.macsPerCycle.${k}`);
  };
  if (!('simdBits' in c)) fail('compute.simdBits', undefined, 'must be an integer > 0, or null');
  const compute: Compute = {
    clockHz: posNum(c.clockHz, 'compute.clockHz'),
    cores: posInt(c.cores, 'compute.cores'),
    simdBits: posIntOrNull(c.simdBits, 'compute.simdBits'),
    macsPerCycle: { f32: mac('f32'), int16: mac('int16'), int8: mac('int8') },
  };

  let energyPj: EnergyPj | null = null;
  if (o.energyPj === undefined) fail('energyPj', undefined, 'must be an object of per-operation energies, or null when unknown');
  if (o.energyPj !== null) {
    const e = obj(o.energyPj, 'energyPj');
    onlyKeys(e, ['basis', ...ENERGY_KEYS], 'energyPj');
    energyPj = { basis: str(e.basis, 'energyPj.basis') };
    for (const k of ENERGY_KEYS) if (k in e) energyPj[k] = posNumOrNull(e[k], `energyPj.${k}`);
  }

  let fpga: FpgaResources | undefined;
  if (kind === 'fpga') {
    const f = obj(o.fpga, 'fpga');
    const keys = ['bramBlocks', 'bramBlockBits', 'bramBits', 'dspSlices', 'dspMultiplierWidths', 'luts', 'flipFlops', 'distributedRamBits'];
    onlyKeys(f, keys, 'fpga');
    const w = f.dspMultiplierWidths;
    if (!Array.isArray(w) || w.length !== 2) fail('fpga.dspMultiplierWidths', w, 'must be two operand widths in bits, e.g. [25, 18]');
    fpga = {
      bramBlocks: posInt(f.bramBlocks, 'fpga.bramBlocks'),
      bramBlockBits: posInt(f.bramBlockBits, 'fpga.bramBlockBits'),
      bramBits: posInt(f.bramBits, 'fpga.bramBits'),
      dspSlices: posInt(f.dspSlices, 'fpga.dspSlices'),
      dspMultiplierWidths: [posInt((w as unknown[])[0], 'fpga.dspMultiplierWidths[0]'), posInt((w as unknown[])[1], 'fpga.dspMultiplierWidths[1]')],
      luts: posInt(f.luts, 'fpga.luts'),
      flipFlops: posInt(f.flipFlops, 'fpga.flipFlops'),
      distributedRamBits: posInt(f.distributedRamBits, 'fpga.distributedRamBits'),
    };
    if (fpga.bramBits !== fpga.bramBlocks * fpga.bramBlockBits) {
      fail('fpga.bramBits', fpga.bramBits, `must equal bramBlocks × bramBlockBits = ${fpga.bramBlocks * fpga.bramBlockBits}`);
    }
    const bram = memory.filter((m) => m.kind === 'bram').reduce((s, m) => s + m.bytes, 0);
    if (bram * 8 > fpga.bramBits) fail('memory', bram, `the "bram" levels hold ${bram * 8} bits, more than fpga.bramBits = ${fpga.bramBits}`);
  } else if (o.fpga !== undefined) {
    fail('fpga', o.fpga, `only allowed when kind is "fpga" (kind is "${kind}"): remove it or set kind to "fpga"`);
  }

  if (!Array.isArray(o.sources) || o.sources.length === 0) fail('sources', o.sources, 'must be a non-empty array of {field, value, source} citations');
  const profile: DeviceProfile = { id, name, kind, ...(notes ? { notes } : {}), memory, budgetBytes, compute, energyPj, ...(fpga ? { fpga } : {}), sources: [] };
  profile.sources = (o.sources as unknown[]).map((raw, i) => {
    const at = `sources[${i}]`;
    const s = obj(raw, at);
    onlyKeys(s, ['field', 'value', 'source'], at);
    const field = str(s.field, `${at}.field`);
    if (fieldAt(profile, field) === undefined) fail(`${at}.field`, field, 'names no field of this profile (write a path such as "memory[0].bytes" or "compute.clockHz")');
    const value = typeof s.value === 'number' || (typeof s.value === 'string' && s.value !== '') ? s.value : fail(`${at}.value`, s.value, 'must be the value as the source states it (string or number)');
    return { field, value, source: str(s.source, `${at}.source`) };
  });
  return profile;
}

/** The value at a path like `memory[1].bytes` or `compute.macsPerCycle.int8`, or undefined. */
export function fieldAt(root: unknown, path: string): unknown {
  let cur: unknown = root;
  for (const part of path.match(/[^.[\]]+/g) ?? []) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Paths of every numeric (non-null) field of a profile, sources excluded. */
export function numericFields(p: DeviceProfile): string[] {
  const out: string[] = [];
  const walk = (v: unknown, path: string) => {
    if (typeof v === 'number') out.push(path);
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
    else if (isObj(v)) for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
  };
  walk({ ...p, sources: undefined }, '');
  return out;
}

/** Numeric fields no `sources` entry covers (an entry covers its path and every path under it). */
export function unsourcedFields(p: DeviceProfile): string[] {
  const covers = (f: string, path: string) => path === f || path.startsWith(f + '.') || path.startsWith(f + '[');
  return numericFields(p).filter((path) => !p.sources.some((s) => covers(s.field, path)));
}
