/**
 * The commands of the deployment guides (docs/deploy-eks.md, docs/deploy-self-managed.md), run as written against the
 * local control plane. Every `sh` block carries a marker on the line before it, `<!-- guide-test: <kind> -->`:
 *
 * - `native` / `managed`: run here, verbatim, by bash (`set -euo pipefail`), in the mode the integration suite runs in
 *   (`npm test` runs this file in both); a `kubectl auth can-i` line that ends in `# yes` or `# no` must answer that.
 * - `ci`: commands `.ci/run` itself runs (npm ci, build, package); checked to be there.
 * - `aws`: needs an AWS account (every such block calls `aws` or deploys with `osls`); not run.
 * - `host`: needs files of a real control-plane host (certificates, /etc paths); not run.
 * - `uninstall`: removes the webhook, CRD and RBAC the test system itself runs on; not run.
 *
 * So a new block cannot slip in unmarked, and a block marked runnable is run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../../devcluster/state.ts';
import { localPaths, repoRoot } from '../../devcluster/paths.ts';
import { addNodes, deleteNode } from '../../devcluster/simulator/nodes.ts';
import { adminClient, waitFor } from '../support/cluster.ts';
import { MODE } from '../support/daemon.ts';

const kinds = ['native', 'managed', 'ci', 'aws', 'host', 'uninstall'] as const;
type Kind = (typeof kinds)[number];

interface Block {
  guide: string;
  line: number;
  kind: Kind;
  script: string;
}

function blocksOf(guide: string): Block[] {
  const lines = readFileSync(join(repoRoot, guide), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```sh\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const marker = /<!-- guide-test: (\S+) -->/.exec(lines[i - 1] ?? '');
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) body.push(lines[j]!.slice(indent));
    blocks.push({ guide, line: i + 1, kind: (marker?.[1] ?? 'unmarked') as Kind, script: body.join('\n') });
    i = j;
  }
  return blocks;
}

const guides = ['docs/deploy-eks.md', 'docs/deploy-self-managed.md'];
const blocks = guides.flatMap(blocksOf);
const at = (b: Block) => `${b.guide}:${b.line}`;

/** `kubectl auth can-i … # yes` → a line that fails unless the answer is yes. */
function withAnswers(script: string): string {
  return script
    .split('\n')
    .map((line) => {
      const m = /^(kubectl auth can-i .*?)\s+#\s*(yes|no)\s*$/.exec(line);
      return m ? `test "$(${m[1]} 2>/dev/null || true)" = ${m[2]} || { echo "expected ${m[2]}: ${m[1]}" >&2; exit 1; }` : line;
    })
    .join('\n');
}

const paths = localPaths();
const binDir = (() => {
  try {
    return readState(paths.state)?.binDir;
  } catch {
    return undefined;
  }
})();
const hasJq = spawnSync('jq', ['--version']).status === 0;
/** A scratch folder where the guides' relative paths (infra/, test/fixtures/) resolve; files they write land here. */
const workDir = mkdtempSync(join(tmpdir(), 'guides-'));
for (const dir of ['infra', 'test']) symlinkSync(join(repoRoot, dir), join(workDir, dir));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function run(block: Block, env: Record<string, string> = {}): string {
  const result = spawnSync('bash', ['-c', `set -euo pipefail\n${withAnswers(block.script)}`], {
    cwd: workDir,
    encoding: 'utf8',
    timeout: 330_000,
    env: { ...process.env, PATH: `${binDir}:${process.env.PATH}`, KUBECONFIG: paths.kubeconfig, ...env },
  });
  if (result.status !== 0) throw new Error(`${at(block)} exited ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

const kubectlArgs = (args: string[]) => [join(binDir ?? '', 'kubectl'), ['--kubeconfig', paths.kubeconfig, ...args]] as const;
const kubectl = (...args: string[]) => execFileSync(...kubectlArgs(args), { encoding: 'utf8' });
/** Cleanup: deletes what may not exist, and never fails the test. */
const deleteQuietly = (...args: string[]) => spawnSync(...kubectlArgs([...args, '--ignore-not-found', '--timeout=60s']));

describe('the deployment guides', () => {
  // Nodes of its own, so that every DaemonSet the blocks create has pods to place (and to keep, when it moves).
  const { kc, core } = adminClient();
  let nodes: string[] = [];
  beforeAll(async () => {
    nodes = await addNodes(kc, 2);
  });
  afterAll(async () => {
    for (const node of nodes) await deleteNode(kc, node);
  });

  it('mark every sh block with what runs it', () => {
    expect(blocks.length).toBeGreaterThan(10);
    expect(blocks.filter((b) => !kinds.includes(b.kind)).map(at)).toEqual([]);
  });

  it('need AWS only where they say so, and run in CI what they say CI runs', () => {
    const ci = readFileSync(join(repoRoot, '.ci/run'), 'utf8');
    for (const block of blocks.filter((b) => b.kind === 'aws')) expect(block.script, at(block)).toMatch(/(^|[\s(])aws |osls@[\d.]+ (deploy|remove)/m);
    for (const block of blocks.filter((b) => b.kind === 'ci')) {
      for (const command of block.script.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean)) {
        expect(ci, `${at(block)}: ${command}`).toContain(command.replace(/^npm run /, 'npm run --silent '));
      }
    }
  });

  // The blocks of this mode, in guide order, except those that need a DaemonSet to move (below).
  const runnable = blocks.filter((b) => b.kind === MODE && !b.script.includes('$NAME'));
  it.for(runnable.map((b) => [at(b), b] as const))(
    '%s runs as written',
    { timeout: 340_000 },
    ([, block], context) => {
      // Counted as skipped, not passed: the summary shows that a block was not run.
      if (block.script.includes('| jq') && !hasJq) {
        console.warn(`${at(block)}: jq is not installed, not run`);
        context.skip();
      }
      run(block);
    },
  );

  it.runIf(runnable.some((b) => b.script.includes('fluentd-elasticsearch')))('left the reference DaemonSet with a Ready pod on each of these nodes', async () => {
    await waitFor('a Ready fluentd-elasticsearch pod on each node', async () => {
      const pods = (await core.listNamespacedPod({ namespace: 'kube-system', labelSelector: 'name=fluentd-elasticsearch' })).items;
      return nodes.every((node) => pods.some((p) => p.spec?.nodeName === node && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')));
    });
  });

  afterAll(() => {
    // What the blocks created (the reference DaemonSet, the ServiceAccount and its bindings); the other suites bring their own.
    // Foreground: gone with its pods while this block's nodes still run them (this hook runs before the one deleting
    // the nodes); pods left terminating on deleted nodes would wait for PodGC's 40 s and spoil the next file's count.
    deleteQuietly('-n', 'kube-system', 'delete', '--cascade=foreground', 'daemonsets.apps', 'fluentd-elasticsearch');
    if (MODE === 'managed') deleteQuietly('-n', 'kube-system', 'delete', '--cascade=foreground', 'serverlessdaemonsets.daemonless.dev', 'fluentd-elasticsearch');
    deleteQuietly('-n', 'daemonless-system', 'delete', 'secret/daemonless-reconciler-token', 'serviceaccount/daemonless-reconciler', 'rolebinding/daemonless-reconciler-leases-sa');
    deleteQuietly('delete', 'clusterrolebinding', 'daemonless-reconciler-sa');
  });

  // deploy-eks.md: move an apps/v1 DaemonSet the built-in controller runs to a ServerlessDaemonSet and back, without
  // restarting its pods.
  const [toSds, toDs] = blocks.filter((b) => b.kind === 'managed' && b.script.includes('$NAME'));
  it.runIf(MODE === 'managed' && hasJq)('the move to a ServerlessDaemonSet and back keeps every pod (deploy-eks.md)', async () => {
    expect(toSds?.script).toContain('--cascade=orphan');
    expect(toDs?.script).toContain('apps/v1');
    const { apps } = adminClient();
    const name = 'my-agent'; // the name the guide's block sets
    const namespace = 'kube-system';
    const labels = { app: name };
    await apps.createNamespacedDaemonSet({
      namespace,
      body: {
        metadata: { name, labels },
        spec: {
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { tolerations: [{ operator: 'Exists' }], containers: [{ name: 'agent', image: 'registry.example/agent:1.0' }] } },
        },
      },
    });
    try {
      const nodeCount = (await core.listNode()).items.length;
      expect(nodeCount).toBeGreaterThanOrEqual(nodes.length);
      const pods = () => core.listNamespacedPod({ namespace, labelSelector: `app=${name}` }).then((l) => l.items.filter((p) => !p.metadata?.deletionTimestamp));
      const ready = async (owner: string) => {
        const items = await pods();
        const owned = items.filter((p) => p.metadata?.ownerReferences?.find((o) => o.controller)?.kind === owner);
        const isReady = (p: (typeof items)[number]) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        if (items.length !== nodeCount || owned.length !== nodeCount || !owned.every(isReady)) throw new Error(`${owned.length}/${items.length} of ${nodeCount} pods Ready under ${owner}`);
        return new Set(owned.map((p) => p.metadata!.uid!));
      };
      const before = await waitFor('the built-in controller runs the DaemonSet', () => ready('DaemonSet'), { timeoutMs: 60_000 });

      run(toSds!);
      const moved = await waitFor('the ServerlessDaemonSet owns the same pods', () => ready('ServerlessDaemonSet'), { timeoutMs: 60_000 });
      expect(moved).toEqual(before);
      expect(kubectl('-n', namespace, 'get', 'daemonset', name, '--ignore-not-found')).toBe('');

      run(toDs!, { NS: namespace, NAME: name });
      const back = await waitFor('the built-in controller owns the same pods again', () => ready('DaemonSet'), { timeoutMs: 60_000 });
      expect(back).toEqual(before);
    } finally {
      await apps.deleteNamespacedDaemonSet({ namespace, name }).catch(() => undefined);
      deleteQuietly('-n', namespace, 'delete', 'sds', name);
    }
  }, 300_000);
});
