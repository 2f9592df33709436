/** Small histograms that merge by addition, so per-endpoint figures can be combined across batches, files and instances. */

/** Exact counts of small integers (queries per request, repeats per request). */
export type CountHistogram = Map<number, number>;

export function addCount(h: CountHistogram, value: number, times = 1): void {
  h.set(value, (h.get(value) ?? 0) + times);
}

export function mergeCounts(into: CountHistogram, from: CountHistogram): void {
  for (const [value, times] of from) addCount(into, value, times);
}

/** The q-quantile (0..1) by nearest rank; 0 for an empty histogram. */
export function countQuantile(h: CountHistogram, q: number): number {
  let total = 0;
  for (const times of h.values()) total += times;
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const value of [...h.keys()].sort((a, b) => a - b)) {
    seen += h.get(value) ?? 0;
    if (seen >= rank) return value;
  }
  return 0;
}

export function countMax(h: CountHistogram): number {
  let max = 0;
  for (const value of h.keys()) if (value > max) max = value;
  return max;
}

/**
 * Durations in log-spaced buckets (about 4% wide), keyed by bucket index: quantiles within that
 * error, whatever the number of samples.
 */
export type DurationHistogram = Map<number, number>;

const GROWTH = Math.log(1.04);
const MIN_MS = 0.001;

/** The bucket a duration falls in. */
export function durationBucket(ms: number): number {
  return ms <= MIN_MS ? 0 : Math.ceil(Math.log(ms / MIN_MS) / GROWTH);
}

/** A bucket's upper edge in ms: what a quantile falling in it reads. */
export function bucketEdgeMs(bucket: number): number {
  return MIN_MS * Math.exp(bucket * GROWTH);
}

/** The first bucket whose upper edge is at least `ms`: a quantile reads ≥ `ms` exactly when it falls there or above. */
export function firstBucketReaching(ms: number): number {
  let b = durationBucket(ms);
  while (b > 0 && bucketEdgeMs(b - 1) >= ms) b--;
  while (bucketEdgeMs(b) < ms) b++;
  return b;
}

export function addDuration(h: DurationHistogram, ms: number): void {
  const bucket = durationBucket(ms);
  h.set(bucket, (h.get(bucket) ?? 0) + 1);
}

/** The q-quantile in ms, as the upper edge of its bucket. */
export function durationQuantile(h: DurationHistogram, q: number): number {
  const bucket = countQuantile(h, q);
  return h.size === 0 ? 0 : bucketEdgeMs(bucket);
}

export const mergeDurations = mergeCounts;
