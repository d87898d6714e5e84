#!/usr/bin/env node
// The `btnn` command: runs the compiled host (npm ci / npm run build produce build/js).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join, dirname } from 'node:path';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'js', 'src', 'cli', 'main.js');
if (!existsSync(main)) {
  console.error('btnn: the host is not built (build/js missing): run `npm run build` in the btnn package, then try again');
  process.exit(2);
}
const { run } = await import(pathToFileURL(main).href);
process.exitCode = await run(process.argv.slice(2));
