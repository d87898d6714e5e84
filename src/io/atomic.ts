// Atomic file write: readers see either the old file or the complete new one, never a
// partial write (a crash mid-checkpoint must not destroy the previous checkpoint).
// The temp file sits in the target's directory because rename is only atomic within one
// filesystem; pid + random hex keep concurrent writers from sharing a temp name.

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { makeDirs } from './mkdir.js';

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const dir = dirname(path);
  makeDirs(dir);
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx'); // 'wx': never reuse an existing file
    writeFileSync(fd, data);
    fsyncSync(fd); // data on disk before the rename makes it visible
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // the temp file may never have been created
    }
    throw err;
  }
  // Persist the rename itself. Best effort: some platforms (Windows) cannot open or fsync
  // a directory, and the new file is already complete and in place.
  try {
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // see above
  }
}
