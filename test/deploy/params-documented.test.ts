/**
 * Every param serverless.yml declares is in the table of docs/deploy-eks.md (step 4), which the self-managed guide
 * points to, and the table names no param that does not exist.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../../devcluster/paths.ts';

const declared = Object.keys(
  (parse(readFileSync(join(repoRoot, 'serverless.yml'), 'utf8'), { merge: true }) as { params: { default: Record<string, unknown> } }).params.default,
);

/** The first cell of each row of the table whose header is `| param | default | meaning |`; a cell may name several. */
function documented(markdown: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => /^\| param \| default \| meaning \|$/.test(line));
  const rows = [];
  for (let i = start + 2; start >= 0 && i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(lines[i]!);
  return rows.flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`(\w+)`/g)].map((m) => m[1]!));
}

describe('the deployment params are documented', () => {
  const table = documented(readFileSync(join(repoRoot, 'docs', 'deploy-eks.md'), 'utf8'));

  it('the table is found, and lists exactly the params of serverless.yml', () => {
    expect(declared).toContain('alarmTopicArn');
    expect([...table].sort()).toEqual([...declared].sort());
  });

  it('a param missing from the table is noticed', () => {
    expect(documented('| param | default | meaning |\n|---|---|---|\n| `a`, `b` | 1 | x |\n| `c` | 2 | y |\n\nafter')).toEqual(['a', 'b', 'c']);
  });
});
