// The HTML report opens in headless Chromium and its screenshot is not blank. Skips, saying why,
// where Debian's chromium is not installed (.ci/run installs it).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { simulate } from '../hw-sim/simulate.js';
import { writeReports } from '../hw-sim/report.js';
import { loadDevice } from '../hw-sim/devices.js';
import { defaultSpec } from '../src/spec/defaults.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) to RGBA pixels. */
function decodePng(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  if (png.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let off = 8, width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off), type = png.toString('latin1', off + 4, off + 8), data = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error('only 8-bit non-interlaced PNGs');
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      if (!channels) throw new Error(`colour type ${data[9]} not supported`);
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels, out = new Uint8Array(width * height * 4), prev = new Uint8Array(stride), cur = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)], row = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels] : 0, b = prev[i], c = i >= channels ? prev[i - channels] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      cur[i] = (row[i] + pred) & 0xff;
    }
    for (let x = 0; x < width; x++) for (let k = 0; k < 4; k++) out[(y * width + x) * 4 + k] = k < channels ? cur[x * channels + k] : 255;
    prev.set(cur);
  }
  return { width, height, rgba: out };
}

t.test('report.html renders in headless Chromium and is not blank', { skip: CHROMIUM ? false : 'chromium is not installed (Debian package "chromium"; .ci/run installs it)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-shot-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const report = simulate({ spec: defaultSpec('ttm', 20), device: loadDevice('esp32-s3'), mode: 'train', bits: 32, batch: 128 });
  const { html } = writeReports(dir, report);
  const png = join(dir, 'shot.png');
  const r = spawnSync(CHROMIUM!, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${join(dir, 'profile')}`,
    '--window-size=1000,800', `--screenshot=${png}`, pathToFileURL(html).href], { encoding: 'utf8', timeout: 60_000 });
  t.ok(existsSync(png), `chromium wrote a screenshot (status ${r.status}; ${r.stderr.split('\n').slice(-2).join(' ')})`);
  const { width, height, rgba } = decodePng(readFileSync(png));
  t.equal(width, 1000);
  t.equal(height, 800);
  let dark = 0, blue = 0;
  for (let i = 0; i < rgba.length; i += 4) {
    const [r0, g0, b0] = [rgba[i], rgba[i + 1], rgba[i + 2]];
    if (r0 + g0 + b0 < 200) dark++;                     // text
    if (b0 > 150 && r0 < 120 && g0 < 160) blue++;      // the SVG bars
  }
  const n = width * height;
  t.ok(dark / n > 0.005, `text pixels ${(100 * dark / n).toFixed(2)} % > 0.5 %`);
  t.ok(blue / n > 0.005, `chart-bar pixels ${(100 * blue / n).toFixed(2)} % > 0.5 %`);
});
