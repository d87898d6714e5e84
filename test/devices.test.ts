// Device profiles: every built-in loads, holds the capacities the issue states, cites a source for
// every number, and a bad user file fails with a message naming the file, field and value.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceError, DeviceProfile, devicesDir, listDevices, loadDevice, numericFields, unsourcedFields } from '../hw-sim/devices.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const IDS = ['artix7-100t', 'cortex-m4', 'esp32-s3', 'rpi-zero-2w', 'rpi4', 'stm32h7'];

const level = (p: DeviceProfile, name: string) => {
  const m = p.memory.find((l) => l.name === name);
  if (!m) throw new Error(`${p.id} has no memory level ${name}`);
  return m;
};
const bytesOfKind = (p: DeviceProfile, kind: string) => p.memory.filter((m) => m.kind === kind).reduce((s, m) => s + m.bytes, 0);

t.test('every built-in profile loads, validates and cites a source for every number', async (t) => {
  t.same(listDevices(), IDS);
  for (const id of IDS) {
    const p = loadDevice(id);
    t.equal(p.id, id);
    t.ok(p.budgetBytes <= p.memory.filter((m) => m.use.includes('activations')).reduce((s, m) => s + m.bytes, 0), `${id}: budget fits`);
    t.ok(numericFields(p).length > 5, `${id}: has numeric fields`);
    t.same(unsourcedFields(p), [], `${id}: every numeric field has a source`);
    for (const s of p.sources) t.ok(s.source.length > 10, `${id}: ${s.field} source is a real citation`);
    t.equal(p.fpga !== undefined, p.kind === 'fpga', `${id}: fpga block iff kind fpga`);
  }
});

t.test('capacities stated in the issue', async (t) => {
  const rpi4 = loadDevice('rpi4');
  t.equal(rpi4.kind, 'cpu');
  t.equal(bytesOfKind(rpi4, 'dram'), 4 * GiB, 'RPi 4: 4 GiB');
  t.match(rpi4.name, /Cortex-A72/);

  const zero = loadDevice('rpi-zero-2w');
  t.equal(bytesOfKind(zero, 'dram'), 512 * MiB, 'Zero 2 W: 512 MiB');

  const esp = loadDevice('esp32-s3');
  t.equal(esp.kind, 'mcu');
  t.equal(level(esp, 'sram').bytes, 512 * KiB, 'ESP32-S3: 512 KiB SRAM');
  t.equal(level(esp, 'psram').bytes, 8 * MiB, 'ESP32-S3: 8 MiB PSRAM');

  const h7 = loadDevice('stm32h7');
  // DS12110's "1 Mbyte of RAM" is 192 KB TCM + 864 KB user SRAM = 1056 KiB.
  t.ok(bytesOfKind(h7, 'sram') >= 1 * MiB, 'STM32H7: at least 1 MiB SRAM');
  t.equal(bytesOfKind(h7, 'sram'), 1056 * KiB, 'STM32H7: 192 KiB TCM + 864 KiB SRAM');
  t.equal(bytesOfKind(h7, 'flash'), 2 * MiB, 'STM32H7: 2 MiB flash');

  const m4 = loadDevice('cortex-m4');
  t.equal(bytesOfKind(m4, 'sram'), 256 * KiB, 'Cortex-M4: 256 KiB SRAM');

  const fpga = loadDevice('artix7-100t');
  t.equal(fpga.kind, 'fpga');
  t.equal(fpga.fpga?.bramBits, 4_976_640, 'Artix-7 100T: 4,860 Kbit BRAM');
  t.equal(fpga.fpga?.bramBits, 4860 * 1024);
  t.equal(fpga.fpga?.dspSlices, 240, 'Artix-7 100T: 240 DSP slices');
  t.ok(fpga.compute.clockHz > 0);
});

t.test('the JSON directory is the package-root hw-sim/devices', async (t) => {
  t.match(devicesDir().replace(/\\/g, '/'), /\/hw-sim\/devices$/);
  t.notMatch(devicesDir().replace(/\\/g, '/'), /\/build\//);
});

t.test('unknown id lists the known ids', async (t) => {
  t.throws(() => loadDevice('pi5'), { name: 'DeviceError', message: /unknown device "pi5": known devices are artix7-100t, cortex-m4, esp32-s3, rpi-zero-2w, rpi4, stm32h7/ });
});

t.test('user files: a valid one loads; each kind of error names the field and the value', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-devices-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const base = (): Record<string, any> => JSON.parse(readFileSync(join(devicesDir(), 'esp32-s3.json'), 'utf8'));
  const write = (name: string, body: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
    return path;
  };

  const good = base();
  good.id = 'my-board';
  const goodPath = write('my-board.json', good);
  t.equal(loadDevice('my-board', goodPath).id, 'my-board', 'loads with --device-file');
  t.equal(loadDevice('', goodPath).id, 'my-board', 'id may be left to the file');
  t.equal(loadDevice(goodPath).id, 'my-board', 'a path works as the id');
  t.throws(() => loadDevice('rpi4', goodPath), /my-board\.json: id = "my-board": the file holds device "my-board", not "rpi4"/);

  type Case = [string, (d: Record<string, any>) => void, RegExp];
  const cases: Case[] = [
    ['negative bytes', (d) => { d.memory[1].bytes = -5; }, /memory\[1\]\.bytes = -5: must be an integer > 0/],
    ['fractional bytes', (d) => { d.memory[0].bytes = 1.5; }, /memory\[0\]\.bytes = 1\.5: must be an integer > 0/],
    ['bytes as a string', (d) => { d.memory[0].bytes = '512K'; }, /memory\[0\]\.bytes = "512K": must be an integer > 0/],
    ['missing id', (d) => { delete d.id; }, /id = \(missing\): must be a non-empty string/],
    ['bad id', (d) => { d.id = 'My Board'; }, /id = "My Board": must be lower-case/],
    ['bad kind', (d) => { d.kind = 'gpu'; }, /kind = "gpu": must be one of "cpu", "mcu", "fpga"/],
    ['empty memory', (d) => { d.memory = []; }, /memory = \[\]: must be a non-empty array/],
    ['bad memory kind', (d) => { d.memory[0].kind = 'hbm'; }, /memory\[0\]\.kind = "hbm": must be one of/],
    ['duplicate level name', (d) => { d.memory[1].name = 'sram'; }, /memory\[1\]\.name = "sram": is used by another level/],
    ['negative bandwidth', (d) => { d.memory[0].bandwidthBytesPerSec = -1; }, /memory\[0\]\.bandwidthBytesPerSec = -1: must be a number > 0, or null/],
    ['missing bandwidth', (d) => { delete d.memory[0].bandwidthBytesPerSec; }, /memory\[0\]\.bandwidthBytesPerSec = \(missing\)/],
    ['bad use', (d) => { d.memory[0].use = ['weights', 'stack']; }, /memory\[0\]\.use\[1\] = "stack": must be one of "weights", "activations", "scratch", "code"/],
    ['activations in flash', (d) => { d.memory[2].use = ['weights', 'activations']; }, /memory\[2\]\.use = \["weights","activations"\]: flash is read-only/],
    ['budget too large', (d) => { d.budgetBytes = 100 * MiB; }, /budgetBytes = 104857600: must be <= 8912896, the bytes of the levels that can hold activations \(sram, psram\)/],
    ['zero budget', (d) => { d.budgetBytes = 0; }, /budgetBytes = 0: must be an integer > 0/],
    ['zero clock', (d) => { d.compute.clockHz = 0; }, /compute\.clockHz = 0: must be a number > 0/],
    ['fractional cores', (d) => { d.compute.cores = 1.5; }, /compute\.cores = 1\.5: must be an integer > 0/],
    ['negative MACs', (d) => { d.compute.macsPerCycle.int8 = -16; }, /compute\.macsPerCycle\.int8 = -16: must be a number > 0, or null when unknown/],
    ['missing MAC key', (d) => { delete d.compute.macsPerCycle.f32; }, /compute\.macsPerCycle\.f32 = \(missing\)/],
    ['negative energy', (d) => { d.energyPj.fp32Mult = -3.7; }, /energyPj\.fp32Mult = -3\.7: must be a number > 0, or null/],
    ['energy without basis', (d) => { delete d.energyPj.basis; }, /energyPj\.basis = \(missing\): must be a non-empty string/],
    ['unknown energy key', (d) => { d.energyPj.fp64Mult = 10; }, /energyPj\.fp64Mult = 10: unknown field; allowed fields here: basis, int8Add/],
    ['typo at top level', (d) => { d.budgetByte = 5; }, /budgetByte = 5: unknown field; allowed fields here: id, name, kind/],
    ['fpga block on an mcu', (d) => { d.fpga = { dspSlices: 1 }; }, /fpga = \{"dspSlices":1\}: only allowed when kind is "fpga"/],
    ['fpga without fpga block', (d) => { d.kind = 'fpga'; }, /fpga = \(missing\): must be a JSON object/],
    ['no sources', (d) => { d.sources = []; }, /sources = \[\]: must be a non-empty array/],
    ['source for a missing field', (d) => { d.sources[0].field = 'memory[7].bytes'; }, /sources\[0\]\.field = "memory\[7\]\.bytes": names no field of this profile/],
    ['source without citation', (d) => { d.sources[1].source = ''; }, /sources\[1\]\.source = "": must be a non-empty string/],
  ];
  for (const [what, mutate, re] of cases) {
    const d = base();
    mutate(d);
    const path = write(`case.json`, d);
    t.throws(() => loadDevice('', path), re, what);
    try {
      loadDevice('', path);
    } catch (e) {
      t.ok(e instanceof DeviceError && e.message.startsWith(path + ': '), `${what}: message starts with the file name`);
    }
  }

  const fpga = JSON.parse(readFileSync(join(devicesDir(), 'artix7-100t.json'), 'utf8'));
  fpga.fpga.bramBits = 4_860_000;
  t.throws(() => loadDevice('', write('fpga.json', fpga)), /fpga\.json: fpga\.bramBits = 4860000: must equal bramBlocks × bramBlockBits = 4976640/);
  const fpga2 = JSON.parse(readFileSync(join(devicesDir(), 'artix7-100t.json'), 'utf8'));
  fpga2.fpga.dspSlices = -240;
  t.throws(() => loadDevice('', write('fpga2.json', fpga2)), /fpga\.dspSlices = -240: must be an integer > 0/);

  t.throws(() => loadDevice('', write('bad.json', '{ "id": ')), /bad\.json: not valid JSON/);
  t.throws(() => loadDevice('', join(dir, 'absent.json')), /absent\.json: cannot read the device file/);
  t.throws(() => loadDevice('', write('array.json', [])), /array\.json: \(top level\) = \[\]: must be a JSON object/);
});
