// Metrics of a binary classifier from its logits (click prediction): accuracy at p = 0.5, the
// ROC AUC (Mann–Whitney: the chance a random positive scores above a random negative, ties
// counting one half) and the log loss (mean binary cross-entropy, computed stably from logits).

export interface BinaryMetrics { accuracy: number; auc: number; logLoss: number }

export function binaryMetrics(logits: ArrayLike<number>, labels: ArrayLike<number>): BinaryMetrics {
  const n = logits.length;
  if (labels.length !== n || n === 0) throw new RangeError(`binaryMetrics: ${n} logits and ${labels.length} labels (need as many, at least one)`);
  let correct = 0, loss = 0, pos = 0;
  for (let i = 0; i < n; i++) {
    const z = logits[i], y = labels[i];
    if (y !== 0 && y !== 1) throw new RangeError(`binaryMetrics: label ${y} at ${i} is not 0 or 1`);
    pos += y;
    if ((z > 0 ? 1 : 0) === y) correct++;
    // −[y log σ(z) + (1−y) log(1−σ(z))] = max(z, 0) − y·z + log(1 + e^−|z|)
    loss += Math.max(z, 0) - y * z + Math.log1p(Math.exp(-Math.abs(z)));
  }
  const neg = n - pos;
  let auc = NaN;
  if (pos > 0 && neg > 0) {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[a] - logits[b]);
    let rankSum = 0;
    for (let i = 0; i < n;) {
      let j = i;
      while (j + 1 < n && logits[order[j + 1]] === logits[order[i]]) j++;
      const mid = (i + j) / 2 + 1; // average 1-based rank of the tie group
      for (let k = i; k <= j; k++) if (labels[order[k]] === 1) rankSum += mid;
      i = j + 1;
    }
    auc = (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
  }
  return { accuracy: correct / n, auc, logLoss: loss / n };
}
