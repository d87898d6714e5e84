// Creating an output directory, every missing level on its own. Node's recursive mkdir retries
// forever where the kernel answers ENOENT for an existing parent (/proc/x hangs `btnn train --out
// /proc/x`); one level at a time, every failure comes back at once with its code.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let at = resolve(dir);
  for (;;) {
    let isDir: boolean | null = null;
    try { isDir = statSync(at).isDirectory(); } catch { isDir = null; }
    if (isDir === true) break;
    if (isDir === false) {
      const e = new Error(`${at} is a file, not a directory`) as NodeJS.ErrnoException;
      e.code = 'ENOTDIR';
      throw e;
    }
    missing.push(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
