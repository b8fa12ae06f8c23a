// A quantile estimated from a cumulative histogram (the rollups' latency_le_<ms> counts), the way
// Prometheus's histogram_quantile estimates one: find the bucket the rank falls in and
// interpolate linearly between its lower and upper bound (0 below the first). Past the last
// bound (calls slower than the largest bucket) the answer is that bound: a floor, not a value.
// The precision is the bucket's width (50 ms at the bottom): an estimate, not a measurement.
export function histogramQuantile(q: number, bounds: readonly number[], cumulative: readonly number[], total: number): number | null {
  if (total <= 0 || bounds.length === 0 || bounds.length !== cumulative.length) return null;
  const rank = q * total;
  let below = 0;
  let lower = 0;
  for (let i = 0; i < bounds.length; i++) {
    const count = cumulative[i] as number;
    const upper = bounds[i] as number;
    if (count >= rank && count > below) return lower + ((upper - lower) * (rank - below)) / (count - below);
    below = count;
    lower = upper;
  }
  return bounds[bounds.length - 1] as number;
}
