/**
 * `npm run nodes` acts on the local cluster only: a KUBECONFIG exported for a real cluster must never be what its
 * `delete`, `taint` or `not-ready` reach. No cluster here: the CLI is asked to list nodes with neither kubeconfig
 * present, and says which one it looked for.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'nodes-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('reads the local kubeconfig, never $KUBECONFIG', () => {
  const elsewhere = join(dir, 'real-cluster.kubeconfig');
  const out = spawnSync(process.execPath, [resolve(import.meta.dirname, '../../devcluster/nodes-cli.ts'), 'list'], {
    env: { ...process.env, KUBECONFIG: elsewhere, DAEMONLESS_LOCAL_DIR: dir },
    encoding: 'utf8',
  });
  expect(out.status).toBe(1);
  expect(out.stderr).toContain(`no kubeconfig at ${join(dir, 'kubeconfig')}`);
  expect(out.stderr).not.toContain(elsewhere);
});
