/**
 * Rolling updates end to end on the real control plane: the budget holds while sampled continuously (also under a
 * storm of concurrent invocations), surge with minReadySeconds, OnDelete, rollback without restarts, status equal to
 * a from-scratch recomputation, and `kubectl rollout status` completing.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { addNodes, deleteNode } from '../../devcluster/simulator/nodes.ts';
import { localPaths } from '../../devcluster/paths.ts';
import { functionsPort } from '../../devcluster/system.ts';
import { computeStatus } from '../../src/core/status.ts';
import { adminClient, apiStatus, createNamespace, deleteNamespace, uniqueName, waitFor } from '../support/cluster.ts';
import { DAEMONSET_KIND, MODE, RUN_LABEL, daemonSetApi, isReady, testDaemonSet, waitConverged } from '../support/daemon.ts';

const { core, apps, kc } = adminClient();
const daemonSets = daemonSetApi(kc);
const run = promisify(execFile);
const IMAGE_V1 = 'registry.example/agent:1.0';

/** Samples the pods every 100 ms until stopped: worst unavailability and worst pod count on one node. */
function sampler(namespace: string, selector: string, nodes: readonly string[], minReadySeconds = 0) {
  let maxUnavailable = 0;
  let maxPodsOnNode = 0;
  let samples = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
      const now = Date.now();
      let unavailable = 0;
      for (const node of nodes) {
        const on = pods.filter((p) => p.spec?.nodeName === node || target(p) === node);
        maxPodsOnNode = Math.max(maxPodsOnNode, on.filter((p) => !p.metadata?.deletionTimestamp).length);
        const available = on.some((p) => !p.metadata?.deletionTimestamp && isReady(p) && readyFor(p, now) >= minReadySeconds);
        if (!available) unavailable += 1;
      }
      maxUnavailable = Math.max(maxUnavailable, unavailable);
      samples += 1;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { maxUnavailable, maxPodsOnNode, samples };
    },
  };
}

const target = (p: V1Pod) => p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms?.[0]?.matchFields?.[0]?.values?.[0];
const readyFor = (p: V1Pod, now: number) => {
  const since = p.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime;
  return since ? (now - new Date(since).getTime()) / 1000 : 0;
};
const image = (p: V1Pod) => p.spec?.containers?.[0]?.image;

/** As a user's edit: read, change the image, replace; a conflict with a status write meanwhile is retried. */
async function setImage(namespace: string, name: string, value: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const ds = await daemonSets.read(namespace, name);
    ds.spec!.template.spec!.containers[0]!.image = value;
    try {
      await daemonSets.replace(namespace, name, ds);
      return;
    } catch (error) {
      if (apiStatus(error) !== 409 || attempt >= 5) throw error;
    }
  }
}

/** Every node has exactly one Ready pod with `value`, and the DaemonSet's status says the rollout is complete. */
async function waitRolledOut(namespace: string, name: string, nodes: readonly string[], value: string, timeoutMs = 90_000) {
  return waitFor(
    `every node running ${value}`,
    async () => {
      const pods = await waitConverged(core, namespace, `app=${name}`, nodes, 1_000);
      const images = [...pods.values()].map(image);
      if (images.some((i) => i !== value)) throw new Error(`images: ${images.join(', ')}`);
      return pods;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** Status as stored equals a from-scratch recomputation (core computeStatus over a fresh read of every node). */
async function expectStatusMatchesRecomputation(namespace: string, name: string): Promise<void> {
  await waitFor(
    'status equal to a from-scratch recomputation',
    async () => {
      const [ds, nodes, pods] = await Promise.all([
        daemonSets.read(namespace, name),
        core.listNode(),
        core.listNamespacedPod({ namespace }),
      ]);
      const states = nodes.items.map((n) => ({
        name: n.metadata!.name!,
        node: n,
        pods: pods.items.filter((p) => (p.spec?.nodeName ?? target(p)) === n.metadata!.name),
      }));
      const revisions = (await apps.listNamespacedControllerRevision({ namespace })).items.filter((r) => r.metadata?.ownerReferences?.[0]?.uid === ds.metadata?.uid);
      const current = revisions.find((r) => r.revision === Math.max(...revisions.map((x) => x.revision)));
      const hash = current?.metadata?.labels?.['controller-revision-hash'] ?? '';
      const expected = computeStatus(ds, states, hash, new Date());
      const actual = ds.status!;
      const same = (Object.keys(expected) as (keyof typeof expected)[]).every((k) => (actual[k] ?? 0) === expected[k]);
      if (!same || (actual.observedGeneration ?? 0) < (ds.metadata?.generation ?? 0)) {
        throw new Error(`status ${JSON.stringify(actual)} vs recomputed ${JSON.stringify(expected)}`);
      }
      return true;
    },
    { timeoutMs: 20_000, intervalMs: 300 },
  );
}

/** The status counts, written out: a recomputation shares computeStatus with what it checks, these numbers do not. */
async function expectStatusCounts(namespace: string, name: string, nodes: number): Promise<void> {
  const want = {
    desiredNumberScheduled: nodes,
    currentNumberScheduled: nodes,
    updatedNumberScheduled: nodes,
    numberReady: nodes,
    numberAvailable: nodes,
    numberUnavailable: 0,
    numberMisscheduled: 0,
  };
  await waitFor(
    `status counting ${nodes} updated, available pods`,
    async () => {
      const status = (await daemonSets.read(namespace, name)).status ?? {};
      const got = Object.fromEntries(Object.keys(want).map((k) => [k, status[k as keyof typeof status] ?? 0]));
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`status ${JSON.stringify(got)}`);
      return true;
    },
    { timeoutMs: 20_000, intervalMs: 300 },
  );
}

describe('rolling updates', () => {
  let namespace = '';
  let nodes: string[] = [];
  const runId = uniqueName('roll');

  beforeAll(async () => {
    namespace = await createNamespace(core);
    nodes = await addNodes(kc, 5, { labels: { [RUN_LABEL]: runId } });
  });

  afterAll(async () => {
    await deleteNamespace(core, namespace);
    for (const node of nodes) await deleteNode(kc, node);
  });

  it('an image change rolls across 5 nodes, never more than maxUnavailable=1 down; status and rollout status agree', async () => {
    const name = 'roll';
    await daemonSets.create(namespace, testDaemonSet(namespace, name, runId));
    await waitRolledOut(namespace, name, nodes, IMAGE_V1);
    await expectStatusMatchesRecomputation(namespace, name);

    const sample = sampler(namespace, `app=${name}`, nodes);
    const started = Date.now();
    await setImage(namespace, name, 'registry.example/agent:2.0');
    await waitRolledOut(namespace, name, nodes, 'registry.example/agent:2.0');
    const seconds = (Date.now() - started) / 1000;
    const { maxUnavailable, samples } = await sample.stop();
    expect(samples).toBeGreaterThan(5);
    expect(maxUnavailable).toBeLessThanOrEqual(1);
    await expectStatusMatchesRecomputation(namespace, name);
    await expectStatusCounts(namespace, name, nodes.length);
    process.stderr.write(`[rollout] 5 nodes, maxUnavailable 1: ${seconds.toFixed(1)} s, ${samples} samples, max unavailable ${maxUnavailable}\n`);

    // kubectl itself must see the rollout complete: `rollout status` reads status (observedGeneration, updated,
    // available); it does not know custom resources, whose RolloutComplete condition `kubectl wait` reads instead.
    const { stdout } =
      MODE === 'managed'
        ? await run(kubectlPath(), ['--kubeconfig', localPaths().kubeconfig, 'wait', '--for=condition=RolloutComplete', `serverlessdaemonset/${name}`, '-n', namespace, '--timeout=30s'])
        : await run(kubectlPath(), ['--kubeconfig', localPaths().kubeconfig, 'rollout', 'status', `daemonset/${name}`, '-n', namespace, '--timeout=30s']);
    expect(stdout).toMatch(MODE === 'managed' ? /condition met/ : /successfully rolled out/);

    // The old revision is kept in history, the new one is current with a higher revision number.
    const revisions = (await apps.listNamespacedControllerRevision({ namespace })).items.filter((r) => r.metadata?.name?.startsWith(`${name}-`));
    expect(revisions.map((r) => r.revision).sort()).toEqual([1, 2]);
  });

  it('surge with minReadySeconds: the old pod stays until the new one is available; never a node down', async () => {
    const name = 'surge';
    await daemonSets.create(
      namespace,
      testDaemonSet(namespace, name, runId, {
        minReadySeconds: 2,
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: 0 } },
      }),
    );
    await waitRolledOut(namespace, name, nodes, IMAGE_V1);
    const sample = sampler(namespace, `app=${name}`, nodes, 0);
    await setImage(namespace, name, 'registry.example/agent:2.0');
    await waitRolledOut(namespace, name, nodes, 'registry.example/agent:2.0', 120_000);
    const { maxUnavailable, maxPodsOnNode } = await sample.stop();
    expect(maxUnavailable).toBe(0);
    expect(maxPodsOnNode).toBe(2);
    await expectStatusMatchesRecomputation(namespace, name);
  });

  it('OnDelete: pods move to the new template only when deleted', async () => {
    const name = 'ondelete';
    await daemonSets.create(namespace, testDaemonSet(namespace, name, runId, { updateStrategy: { type: 'OnDelete' } }));
    const before = await waitRolledOut(namespace, name, nodes, IMAGE_V1);
    await setImage(namespace, name, 'registry.example/agent:2.0');
    await new Promise((r) => setTimeout(r, 3_000));
    const unchanged = await waitConverged(core, namespace, `app=${name}`, nodes);
    for (const node of nodes) expect(unchanged.get(node)?.metadata?.uid).toBe(before.get(node)?.metadata?.uid);
    const victim = unchanged.get(nodes[0]!)!;
    await core.deleteNamespacedPod({ namespace, name: victim.metadata!.name! });
    const after = await waitFor('the deleted pod replaced from the new template', async () => {
      const pods = await waitConverged(core, namespace, `app=${name}`, nodes);
      return image(pods.get(nodes[0]!)!) === 'registry.example/agent:2.0' ? pods : false;
    });
    for (const node of nodes.slice(1)) expect(after.get(node)?.metadata?.uid).toBe(before.get(node)?.metadata?.uid);
    await expectStatusMatchesRecomputation(namespace, name);
  });

  it('rollback mid-rollout restarts nothing that was never replaced', async () => {
    const name = 'rollback';
    await daemonSets.create(namespace, testDaemonSet(namespace, name, runId));
    const before = await waitRolledOut(namespace, name, nodes, IMAGE_V1);
    // A bad image: the simulator never makes it Ready, so the rollout stalls after one node (maxUnavailable 1).
    await setImage(namespace, name, 'registry.example/agent:unready');
    await waitFor('one node running the bad image', async () => {
      const pods = (await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` })).items;
      return pods.some((p) => image(p) === 'registry.example/agent:unready') ? true : false;
    });
    await new Promise((r) => setTimeout(r, 2_000));
    const stalled = (await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` })).items;
    expect(stalled.filter((p) => image(p) === 'registry.example/agent:unready')).toHaveLength(1);

    await setImage(namespace, name, IMAGE_V1);
    const after = await waitRolledOut(namespace, name, nodes, IMAGE_V1);
    const kept = nodes.filter((n) => after.get(n)?.metadata?.uid === before.get(n)?.metadata?.uid);
    // Four nodes never got the bad pod: their original pods (same names, same UIDs) are still running.
    expect(kept).toHaveLength(4);
    await expectStatusMatchesRecomputation(namespace, name);
  });

  it('the budget holds while 20 invocations at a time hammer the DaemonSet', async () => {
    const name = 'hammer';
    await daemonSets.create(namespace, testDaemonSet(namespace, name, runId));
    await waitRolledOut(namespace, name, nodes, IMAGE_V1);
    const token = readFileSync(join(localPaths().root, 'functions.token'), 'utf8').trim();
    const event = JSON.stringify({ type: 'MODIFIED', object: { apiVersion: DAEMONSET_KIND.apiVersion, kind: DAEMONSET_KIND.kind, metadata: { name, namespace } } });
    const sample = sampler(namespace, `app=${name}`, nodes);
    let storming = true;
    let sent = 0;
    let changed = false;
    /** Rounds of 20 started once the image had changed, and deliveries accepted in them: the storm must overlap the rollout. */
    let roundsDuring = 0;
    let acceptedDuring = 0;
    const storm = (async () => {
      while (storming) {
        const during = changed;
        if (during) roundsDuring += 1;
        await Promise.all(
          Array.from({ length: 20 }, () =>
            fetch(`http://127.0.0.1:${functionsPort()}/events/watch`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
              body: event,
            }).then((response) => {
              sent += 1;
              if (during && response.ok) acceptedDuring += 1;
            }),
          ),
        );
      }
    })();
    // The first round warms the intake first (in the Lambda runtime 20 cold starts can outlast the whole rollout).
    await waitFor('the first round of deliveries', () => sent >= 20, { timeoutMs: 60_000 });
    await setImage(namespace, name, 'registry.example/agent:2.0');
    changed = true;
    await waitRolledOut(namespace, name, nodes, 'registry.example/agent:2.0', 120_000);
    storming = false;
    await storm;
    const { maxUnavailable } = await sample.stop();
    process.stderr.write(`[rollout] hammer: ${sent} concurrent deliveries (${roundsDuring} rounds of 20 during the rollout, ${acceptedDuring} accepted), max unavailable ${maxUnavailable}\n`);
    expect(roundsDuring).toBeGreaterThanOrEqual(1);
    // Throttled or refused deliveries (429/5xx) hammer nothing: some must have reached a reconcile during the rollout.
    expect(acceptedDuring).toBeGreaterThanOrEqual(1);
    expect(maxUnavailable).toBeLessThanOrEqual(1);
  });
});

function kubectlPath(): string {
  const state = JSON.parse(readFileSync(localPaths().state, 'utf8')) as { binDir?: string };
  if (!state.binDir) throw new Error('state.json has no binDir');
  return join(state.binDir, 'kubectl');
}
