/**
 * Single events, one at a time, and what each costs (invocations, queue messages, API requests, bytes, billed time):
 *
 *   solo joins     warm single node joins with exactly one DaemonSet in the cluster (run first, on the fresh cluster:
 *                  a DaemonSet of its own, removed again with its pods and nodes before shape (b))
 *   changes        K changes of the reference DaemonSet that change no pod (an annotation: what a label or
 *                  annotation edit, an `kubectl apply` of an unchanged spec, costs), one every few seconds
 *
 * The warm joins with all four DaemonSets are the latency phase (shapes.ts `latency`), run after the shapes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { deleteNodes } from '../../devcluster/simulator/nodes.ts';
import { NAMESPACE, fixture, fixtureCopy, latency, openWindow, type BenchContext, type LatencyResult, type Window } from './shapes.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export const SOLO_DAEMONSET = 'bench-solo';

/**
 * Warm joins with one DaemonSet: creates it (on no node yet), joins `warmup` + `samples` nodes one at a time, then
 * deletes the DaemonSet, waits until its pods are gone and deletes the nodes, so that the shapes start as before.
 */
export async function soloJoins(ctx: BenchContext, samples: number, warmup: number, readyAfterMs = 0): Promise<LatencyResult> {
  const apps = ctx.system.kc.makeApiClient(AppsV1Api);
  const before = new Set(ctx.observer.nodes.keys());
  const ds = await apps.createNamespacedDaemonSet({ namespace: NAMESPACE, body: fixtureCopy(SOLO_DAEMONSET) });
  const uid = ds.metadata!.uid!;
  await sleep(2_000);
  try {
    return await latency(ctx, samples, { warmup, prefix: 'solo', readyAfterMs });
  } finally {
    await apps.deleteNamespacedDaemonSet({ name: SOLO_DAEMONSET, namespace: NAMESPACE, propagationPolicy: 'Background' });
    const end = performance.now() + 60_000;
    const ours = () => [...ctx.observer.pods.values()].filter((p) => p.metadata?.ownerReferences?.some((o) => o.uid === uid)).length;
    while (ours() > 0 && performance.now() < end) await sleep(200);
    if (ours() > 0) ctx.log(`  ${ours()} pods of ${SOLO_DAEMONSET} still there after 60 s; going on`);
    const added = [...ctx.observer.nodes.keys()].filter((n) => !before.has(n));
    await deleteNodes(ctx.system.kc, added);
    const gone = performance.now() + 30_000;
    while (added.some((n) => ctx.observer.nodes.has(n)) && performance.now() < gone) await sleep(200);
    // What trails the cleanup (status passes, the deletions' own events) settles before the next window opens.
    await sleep(3_000);
  }
}

export interface ChangeResult {
  samples: number;
  /** Seconds waited after each change before the next. */
  spacingSeconds: number;
  /** Nodes (and pods of the DaemonSet) at the time: a DaemonSet-wide pass reads all of them. */
  nodes: number;
  window?: Window;
}

/**
 * K annotation changes of the reference DaemonSet (created first when absent), `spacingMs` apart: each is one
 * DaemonSet event that changes no pod, so everything it costs is the fixed cost of noticing a DaemonSet change.
 */
export async function daemonSetChanges(ctx: BenchContext, samples: number, spacingMs = 3_000): Promise<ChangeResult> {
  const apps = ctx.system.kc.makeApiClient(AppsV1Api);
  const name = fixture().metadata!.name!;
  const exists = await apps.readNamespacedDaemonSet({ name, namespace: NAMESPACE }).then(
    () => true,
    () => false,
  );
  if (!exists) {
    ctx.log('  creating the reference DaemonSet first (not measured)');
    await apps.createNamespacedDaemonSet({ namespace: NAMESPACE, body: fixture() });
    await sleep(5_000);
  }
  const window = await openWindow(ctx);
  for (let i = 0; i < samples; i++) {
    const body = { metadata: { annotations: { 'bench.daemonless.dev/touch': `${Date.now()}-${i}` } } };
    await apps.patchNamespacedDaemonSet({ name, namespace: NAMESPACE, body }, mergePatch);
    await sleep(spacingMs);
  }
  return { samples, spacingSeconds: spacingMs / 1000, nodes: ctx.observer.nodes.size, window: await window.close() };
}
