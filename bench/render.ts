/**
 * Re-renders the Markdown summary and the SVG chart from a results JSON (after a change to the report's layout, or to
 * look at an older run): `npm run bench:render -- bench/results/latest.json [name]`, where name defaults to latest
 * (N = 100) or latest-large (N = 1000). The numbers are the JSON's; nothing is measured.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { markdown, svgChart } from './lib/report.ts';
import { checkTargets, type BenchResults } from './lib/results.ts';

const [file, name] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/render.ts <results.json> [name]\n');
  process.exit(2);
}
const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
results.targets = checkTargets(results);
const out = name ?? (results.args.nodes >= 1000 ? 'latest-large' : 'latest');
const dir = join(import.meta.dirname, 'results');
writeFileSync(join(dir, `${out}.md`), markdown(results));
writeFileSync(join(dir, `${out}.svg`), svgChart(results));
process.stdout.write(`wrote ${join(dir, `${out}.md`)} and .svg from ${file}\n`);
