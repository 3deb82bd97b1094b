import assert from "node:assert/strict";

// Reading Prometheus text exposition back, the way a scrape reads it.

export type MetricLabels = Record<string, string>;

/** The value of the series with exactly these labels in Prometheus text, or undefined when it is absent. */
export function metricSample(text: string, name: string, labels: MetricLabels = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const found: MetricLabels = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) found[l[1]!] = l[2]!;
    if (Object.keys(found).length !== Object.keys(labels).length) continue;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Like metricSample, but the series must be there. */
export function metricValue(text: string, name: string, labels: MetricLabels = {}): number {
  const v = metricSample(text, name, labels);
  assert.notEqual(v, undefined, `${name}${JSON.stringify(labels)} is missing from:\n${text}`);
  return v as number;
}
