// A model file named on the command line: it must exist and be a file (a run directory is a
// common slip: point at its model.safetensors).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './options.js';

export function modelPath(option: string, path: string | undefined, command: string): string {
  if (!path) throw new UsageError(`${command} needs ${option} FILE (a model.safetensors written by btnn train)`);
  if (!existsSync(path)) throw new UsageError(`${option} ${path}: no such file; give the model.safetensors that btnn train wrote into its --out directory`);
  if (statSync(path).isDirectory()) {
    const inside = join(path, 'model.safetensors');
    throw new UsageError(`${option} ${path}: is a directory${existsSync(inside) ? `; did you mean ${inside}?` : '; give a model.safetensors file'}`);
  }
  return path;
}
