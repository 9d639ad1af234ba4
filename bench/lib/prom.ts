/**
 * The API server's own counters, from its Prometheus text exposition (`GET /metrics`). Pure: parse, diff, group.
 */

/** One sample: its labels and value. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Samples of the named counters, keyed by metric name. Label values are unescaped (\\, \", \n). */
export function parseCounters(text: string, names: readonly string[]): Map<string, Sample[]> {
  const wanted = new Set(names);
  const out = new Map<string, Sample[]>(names.map((n) => [n, []]));
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, line.indexOf(' '));
    if (!wanted.has(name)) continue;
    const labels = brace >= 0 && brace < space ? parseLabels(line.slice(brace + 1, line.lastIndexOf('}'))) : {};
    const value = Number(line.slice(space + 1));
    if (Number.isFinite(value)) out.get(name)?.push({ labels, value });
  }
  return out;
}

function parseLabels(body: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(body); m !== null; m = re.exec(body)) {
    labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

const keyOf = (labels: Record<string, string>, by: readonly string[]): string => by.map((l) => labels[l] ?? '').join('\u0000');

/**
 * `after - before` summed by the given labels; zero rows are dropped. Counters never go down on one API server, so
 * a negative difference means a restart in between (reported as is, for the reader to notice).
 */
export function diffBy(before: readonly Sample[], after: readonly Sample[], by: readonly string[]): { labels: Record<string, string>; value: number }[] {
  const sums = new Map<string, { labels: Record<string, string>; value: number }>();
  const add = (samples: readonly Sample[], sign: number) => {
    for (const s of samples) {
      const key = keyOf(s.labels, by);
      let row = sums.get(key);
      if (!row) sums.set(key, (row = { labels: Object.fromEntries(by.map((l) => [l, s.labels[l] ?? ''])), value: 0 }));
      row.value += sign * s.value;
    }
  };
  add(after, 1);
  add(before, -1);
  return [...sums.values()].filter((r) => r.value !== 0).sort((a, b) => b.value - a.value);
}
