/**
 * Re-renders the Markdown summary and the SVG chart from a results JSON (after a change to the report's layout, or to
 * look at an older run): `npm run bench:render -- bench/results/latest.json [name]`, where name defaults to the JSON's
 * own (latest-lambda.json → latest-lambda.md and .svg beside it). The numbers are the JSON's; nothing is measured.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { markdown, svgChart } from './lib/report.ts';
import { checkTargets, type BenchResults } from './lib/results.ts';

const [file, name] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/render.ts <results.json> [name]\n');
  process.exit(2);
}
const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
results.targets = checkTargets(results);
// Its own name: re-rendering latest-lambda.json once overwrote latest.md.
const out = name ?? basename(file, '.json');
const dir = join(import.meta.dirname, 'results');
writeFileSync(join(dir, `${out}.md`), markdown(results));
writeFileSync(join(dir, `${out}.svg`), svgChart(results));
process.stdout.write(`wrote ${join(dir, `${out}.md`)} and .svg from ${file}\n`);
