// `btnn inspect FILE`: per layer of a model file, what it stores and the path the planner picks.
import { loadModel } from '../model/file.js';
import { modelParams, denseParams } from '../model/layers.js';
import { prepare } from '../prepare/prepare.js';
import { formatLayerTable, layerRows } from '../prepare/table.js';
import { TRAIN_LANES } from '../train/train.js';
import { COMMON, intOption, type Command, type Values } from './options.js';
import { modelPath } from './model-path.js';

function run(values: Values, positionals: string[]): number {
  const path = modelPath('inspect', positionals[0], 'inspect');
  const { spec } = loadModel(path);
  const batch = intOption(values, 'batch', 128, 1, 65536)!;
  const lanes = intOption(values, 'lanes', TRAIN_LANES, 1, 64)!;
  const mib = intOption(values, 'workspace-mib', undefined, 1, 1 << 20);
  const plans = prepare(spec, { batch, mode: 'train', lanes, budgetBytes: mib === undefined ? undefined : mib * 1048576 }).layerPlans;
  if (values.json) {
    process.stdout.write(JSON.stringify({ model: path, batch, lanes, layers: layerRows(plans) }, null, 2) + '\n');
  } else {
    console.log(`${path}: ${modelParams(spec)} params (dense ${denseParams(spec)}); paths planned for training at batch ${batch} (${lanes} lanes)`);
    console.log(formatLayerTable(plans));
    for (const p of plans) console.log(`  ${p.layer.name}: ${p.chosen.order}`);
  }
  return 0;
}

export const INSPECT: Command = {
  name: 'inspect',
  summary: 'per layer of a model file: format, modes, ranks, params, FLOPs per sample, contraction path, workspace',
  usage: 'btnn inspect FILE [--batch N] [--lanes N] [--workspace-mib N] [--json]',
  positionals: 1,
  options: {
    batch: { type: 'string', arg: 'N', help: 'plan for this training batch (default 128)' },
    lanes: { type: 'string', arg: 'N', help: 'and this many lanes (default 4, as train)' },
    'workspace-mib': { type: 'string', arg: 'N', help: 'each layer\'s contraction workspace budget (default: unlimited)' },
    json: COMMON.json,
  },
  run,
};
