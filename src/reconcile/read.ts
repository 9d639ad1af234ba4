/**
 * What each kind of pass reads: only what its decisions need, in as few round trips as possible. Every list is a
 * fresh (quorum) read: decisions about creating and deleting pods must not act on a stale view.
 */
import type { V1ControllerRevision, V1DaemonSet, V1Node, V1Pod } from '@kubernetes/client-node';
import { readAt, type PodList, type PodMetadata, type ReadAt } from '../k8s/cluster.ts';
import { mapLimit } from '../concurrency.ts';
import { daemonSetsSelecting, isSyncable } from '../core/daemonset.ts';
import { currentRevision, generationObserved, provenRevisionHash, recordedRevisionHash, revisionsOf } from '../core/history.ts';
import { groupedSelectorQueries, selectorMatches } from '../core/label-selector.ts';
import type { BackoffState, DaemonSetKind, NodeState, Snapshot } from '../core/model.ts';
import { backoffKey } from '../core/backoff.ts';
import { releaseLists } from '../core/claim.ts';
import { getTargetNodeName } from '../core/pod-template.ts';
import { isBeingDeleted } from '../core/pods.ts';
import { controllerRefOf, daemonSetRef, namespaceOf } from '../core/refs.ts';
import { backoffsToRead, countedOn, nodeStates, uniquePods, wantingPods } from '../core/snapshot.ts';
import { readNoEarlier } from '../core/versions.ts';
import type { Hint, RegisteredNode, SeenAt } from '../hints.ts';
import type { Pass } from './deps.ts';

/** What a DaemonSet hint names. */
type DaemonSetName = Pick<Extract<Hint, { kind: 'daemonSet' }>, 'namespace' | 'name' | 'type'>;

/**
 * The DaemonSets the hints name, freshly read, in the hints' order (null: gone). One is a GET; several are one LIST
 * per kind (of their namespace, when they share one): the status passes of a join under four DaemonSets come together
 * and cost one read instead of four.
 */
export async function readHintedDaemonSets(pass: Pass, wanted: readonly DaemonSetName[]): Promise<(V1DaemonSet | null)[]> {
  const { cluster } = pass;
  const kindOf = (h: DaemonSetName): DaemonSetKind => h.type ?? 'DaemonSet';
  if (wanted.length < 2) return Promise.all(wanted.map((h) => cluster.getDaemonSet(h.namespace, h.name, kindOf(h))));
  const namespaces = new Set(wanted.map((h) => h.namespace));
  const namespace = namespaces.size === 1 ? wanted[0]!.namespace : undefined;
  const kinds = [...new Set(wanted.map(kindOf))];
  const listed = (await Promise.all(kinds.map((kind) => cluster.listDaemonSets({ kind, ...(namespace ? { namespace } : {}) })))).flat();
  const key = (kind: string, ns: string, name: string) => `${kind}/${ns}/${name}`;
  const byKey = new Map(listed.map((ds) => [key(ds.kind ?? 'DaemonSet', namespaceOf(ds), ds.metadata?.name ?? ''), ds]));
  return wanted.map((h) => byKey.get(key(kindOf(h), h.namespace, h.name)) ?? null);
}

type OrphanHint = Extract<Hint, { kind: 'orphan' }>;

/** One DaemonSet-wide pass per DaemonSet, whichever hints asked for it: keyed by kind and UID. */
export function passKey(ds: V1DaemonSet): string {
  return `${ds.kind ?? 'DaemonSet'}/${ds.metadata?.uid ?? ''}`;
}

/** A DaemonSet that may adopt orphans: the names of the orphan pods it selects (Hint `pods`), and whether a revision. */
export interface Adopter {
  ds: V1DaemonSet;
  pods: string[];
  /** An orphan ControllerRevision it selects: its pass must read the revisions (read.ts `mayProveHash`). */
  revisions: boolean;
}

/**
 * The DaemonSets that may adopt the orphans the hints name (Hint `orphan`), each with the orphan pods it selects,
 * freshly read: a DaemonSet list per namespace and kind, and where a hint carries no labels the orphan itself (a pod's
 * GET; a namespace's revisions). An orphan gone by then, owned, or (a pod) bound or pinned to a node needs no pass from
 * its hint: the change that made it so brings its own.
 */
export async function readAdopters(pass: Pass, orphans: readonly OrphanHint[]): Promise<Adopter[]> {
  if (orphans.length === 0) return [];
  const { cluster } = pass;
  const namespaces = [...new Set(orphans.map((o) => o.namespace))];
  const revisionLists = new Map<string, Promise<V1ControllerRevision[]>>();
  const revisions = (namespace: string) => revisionLists.get(namespace) ?? revisionLists.set(namespace, cluster.listControllerRevisions(namespace)).get(namespace)!;
  const [lists, labelled] = await Promise.all([
    mapLimit(namespaces, 8, async (namespace) => (await Promise.all(pass.deps.options.kinds.map((kind) => cluster.listDaemonSets({ kind, namespace })))).flat()),
    mapLimit(orphans, 16, async (o) => {
      if (o.labels !== undefined) return o.labels;
      if (o.resource === 'controllerrevisions') return labelsOfOrphanRevision((await revisions(o.namespace)).find((r) => r.metadata?.name === o.name));
      return labelsOfOrphan(await cluster.getPod(o.namespace, o.name));
    }),
  ]);
  const byNamespace = new Map(namespaces.map((namespace, i) => [namespace, lists[i]!]));
  const adopters = new Map<string, Adopter>();
  orphans.forEach((orphan, i) => {
    const labels = labelled[i];
    if (labels === undefined) return;
    for (const ds of daemonSetsSelecting(byNamespace.get(orphan.namespace) ?? [], labels)) {
      const key = passKey(ds);
      const adopter = adopters.get(key) ?? { ds, pods: [], revisions: false };
      if (orphan.resource === undefined) adopter.pods.push(orphan.name);
      else adopter.revisions = true;
      adopters.set(key, adopter);
    }
  });
  return [...adopters.values()];
}

/** The labels of a revision a DaemonSet may still adopt because of its own change (an orphan), or undefined. */
function labelsOfOrphanRevision(revision: V1ControllerRevision | undefined): Record<string, string> | undefined {
  if (revision === undefined || isBeingDeleted(revision) || controllerRefOf(revision) !== undefined) return undefined;
  return revision.metadata?.labels;
}

/** The labels of a pod a DaemonSet may still adopt because of its own change (an orphan targeting no node), or undefined. */
function labelsOfOrphan(pod: V1Pod | null): Record<string, string> | undefined {
  if (pod === null || isBeingDeleted(pod) || controllerRefOf(pod) !== undefined || getTargetNodeName(pod) !== undefined) return undefined;
  return pod.metadata?.labels;
}

export interface DaemonSetRead {
  nodes: V1Node[];
  pods: V1Pod[];
  /** Metadata of the pods the DaemonSets may have to release (hinted passes only; core/claim.ts `releaseLists`). */
  podMetadata: PodMetadata[];
  /** The revisions of the namespaces whose DaemonSets needed them (every one but those in `provenHashes`). */
  revisions: V1ControllerRevision[];
  /** By DaemonSet UID: the current revision hash, proven without the revisions (core/history.ts `provenRevisionHash`). */
  provenHashes: Map<string, string>;
  /** By DaemonSet UID: the resourceVersions of the node list and of the list its pods came from, where both are known. */
  seen: Map<string, SeenAt>;
}

/**
 * Which pods' changes asked for a DaemonSet's pass (Hint `pods`; none when the DaemonSet itself changed): undefined
 * when the sender cannot say.
 */
export type ChangedPods = (ds: V1DaemonSet) => readonly string[] | undefined;

/**
 * For DaemonSet-wide passes: one node list; the pods each DaemonSet's selector matches (its own and the orphans it may
 * adopt); the namespace's ControllerRevisions; and the metadata of the namespace's pods outside the selector (owned
 * pods relabelled out of it, which the DaemonSet must release). A resync lists every pod and revision of the cluster
 * instead.
 *
 * Only a pod that changed can have left the selector (the selector is immutable, so a change to the DaemonSet cannot
 * take one out): the metadata list is read, after the selector's list, only when a pod the hints name is missing from
 * it, and beside the others when the hint cannot say which pods changed. For a change to the DaemonSet, a rollout or
 * a join no pod leaves, and the list (every other pod of the namespace when it holds several DaemonSets) is not read
 * at all.
 */
export async function readForDaemonSets(pass: Pass, daemonSets: V1DaemonSet[], resync: boolean, changedPods: ChangedPods = () => undefined): Promise<DaemonSetRead> {
  const { cluster } = pass;
  const syncable = daemonSets.filter(isSyncable);
  const releaseMetadata = (owners: V1DaemonSet[]) =>
    Promise.all(releaseLists(owners).map((l) => cluster.listPodMetadata(l.namespace, l.labelSelector))).then((l) => l.flat());
  const listRevisions = (namespaces: Iterable<string>) =>
    Promise.all([...new Set(namespaces)].map((ns) => cluster.listControllerRevisions(ns))).then((l) => l.flat());
  const unsaid = resync ? [] : syncable.filter((ds) => changedPods(ds) === undefined);
  // A pass its pods' changes asked for (created, bound, turning Ready) may know the revision hash from those pods
  // (`mayProveHash`). A namespace is read whole or not at all: only where no DaemonSet needs its revisions anyway, and,
  // after the pods, where the proof failed for one of them.
  const needed = new Set(resync ? [] : syncable.filter((ds) => !mayProveHash(ds, changedPods(ds))).map(namespaceOf));
  const proving = resync ? [] : syncable.filter((ds) => !needed.has(namespaceOf(ds)));
  const [nodes, podLists, firstMetadata, firstRevisions] = await Promise.all([
    cluster.listNodes(),
    resync ? Promise.all([cluster.listPods()]) : podsOfEach(cluster, syncable),
    unsaid.length > 0 ? releaseMetadata(unsaid) : Promise.resolve([]),
    resync ? cluster.listControllerRevisions() : listRevisions(needed),
  ]);
  const proofs = proving.map((ds) => ({ ds, hash: provenRevisionHash(ds, podLists[syncable.indexOf(ds)] ?? []) ?? recordedRevisionHash(ds) }));
  const failed = new Set(proofs.filter((p) => p.hash === undefined).map((p) => namespaceOf(p.ds)));
  const provenHashes = new Map(proofs.flatMap(({ ds, hash }) => (hash === undefined || failed.has(namespaceOf(ds)) ? [] : [[ds.metadata?.uid ?? '', hash] as const])));
  const left = resync ? [] : syncable.filter((ds, i) => !unsaid.includes(ds) && someLeftSelector(changedPods(ds) ?? [], podLists[i] ?? []));
  const [moreMetadata, moreRevisions] = await Promise.all([
    left.length > 0 ? releaseMetadata(left) : Promise.resolve([]),
    failed.size > 0 ? listRevisions(failed) : Promise.resolve([]),
  ]);
  const seen = new Map<string, SeenAt>();
  syncable.forEach((ds, i) => {
    const pods = (resync ? podLists[0] : podLists[i])?.resourceVersion;
    if (nodes.resourceVersion !== undefined && pods !== undefined) seen.set(ds.metadata?.uid ?? '', { nodes: nodes.resourceVersion, pods });
  });
  return { nodes, pods: uniquePods(podLists.flat()), podMetadata: [...firstMetadata, ...moreMetadata], revisions: [...firstRevisions, ...moreRevisions], provenHashes, seen };
}

/**
 * Whether a pass may take the revision hash from the DaemonSet's pods instead of reading its revisions: only when the
 * hint names pods that changed (a pod created, bound, turning Ready), never for a change to the DaemonSet (its
 * history may change), a pod deleted or a follow-up (a pod gone may let cleanup delete a revision), or a hint that
 * cannot say.
 */
function mayProveHash(ds: V1DaemonSet, pods: readonly string[] | undefined): boolean {
  return pods !== undefined && pods.length > 0 && generationObserved(ds);
}

/**
 * The pods each DaemonSet's selector matches, in `daemonSets` order: one list per namespace and selector key where
 * several share a one-label selector (`name in (a,b,c)`: four DaemonSets of one namespace cost one list, not four),
 * else one per DaemonSet (core/label-selector.ts `groupedSelectorQueries`).
 */
async function podsOfEach(cluster: Pass['cluster'], daemonSets: readonly V1DaemonSet[]): Promise<ReadAt<V1Pod>[]> {
  const out: ReadAt<V1Pod>[] = daemonSets.map(() => []);
  const namespaces = [...new Set(daemonSets.map(namespaceOf))];
  await Promise.all(
    namespaces.flatMap((ns) => {
      const indexes = daemonSets.flatMap((ds, i) => (namespaceOf(ds) === ns ? [i] : []));
      return groupedSelectorQueries(indexes.map((i) => daemonSets[i]?.spec?.selector)).map(async ({ query, members }) => {
        const pods = await cluster.listPods(ns, query);
        for (const m of members) {
          const i = indexes[m] as number;
          const selector = daemonSets[i]?.spec?.selector;
          out[i] = members.length === 1 ? pods : readAt(pods.filter((p) => selectorMatches(selector, p.metadata?.labels)), pods.resourceVersion);
        }
      });
    }),
  );
  return out;
}

/** A named pod is not among those the selector lists: it left the selector (or is gone, which costs one list). */
function someLeftSelector(names: readonly string[], selected: readonly V1Pod[]): boolean {
  if (names.length === 0) return false;
  const listed = new Set(selected.map((p) => p.metadata?.name));
  return names.some((name) => !listed.has(name));
}

export interface NodeRead {
  daemonSets: V1DaemonSet[];
  states: NodeState[];
  /** The revision hash of each DaemonSet counting on these nodes, from its history (one hash per pass). */
  hashes: Map<string, string>;
  /** DaemonSets counted on these nodes whose current revision does not exist yet (left out of `daemonSets`). */
  withoutHistory: V1DaemonSet[];
}

/**
 * For node-scoped passes. Few nodes: per node a GET and a pod list by `spec.nodeName`, plus one list of the pods not
 * yet bound anywhere (a pending pod aimed at a node counts there before it is created again) and one DaemonSet list;
 * the ControllerRevisions of the DaemonSets' namespaces (for the revision hash) as soon as the DaemonSets and nodes
 * say that some DaemonSet should run a pod here, else only if pods of one are found here; none for a DaemonSet whose
 * status records the hash (core/history.ts `recordedRevisionHash`), as it does once its DaemonSet-wide pass has run.
 * Many nodes (a burst of joins): one node list and one pod list instead of the per-node reads.
 *
 * `created`: nodes whose hint came from their creation. No DaemonSet counted such a node before, and nothing aims a
 * pod at it, so where no DaemonSet should run a pod on it (a node registering with the `not-ready` taint, which a
 * DaemonSet's pods do not tolerate unless it says so) the pass has nothing to read there: no pod lists, no revisions.
 * Its later changes (the taint going) bring their own passes. Where one should (a DaemonSet tolerating every taint,
 * as CNI daemons do), its pod is created one round trip later than for other hints. Where the hint carries the node
 * as created (Hint `registered`), that copy decides whether any DaemonSet should run a pod there, and the node is read
 * only if one should.
 */
export async function readForNodes(pass: Pass, names: string[], created: ReadonlyMap<string, RegisteredNode | undefined> = new Map()): Promise<NodeRead> {
  const { cluster, deps } = pass;
  const wanted = new Set(names);
  const dsRead = cluster.listDaemonSets();
  // DaemonSets whose status records their current revision's hash need no revisions read (core/history.ts
  // `recordedRevisionHash`): after its first DaemonSet-wide pass, a node joining under an unchanged DaemonSet.
  const listRevisions = (of: readonly V1DaemonSet[]) => {
    const namespaces = [...new Set(of.filter((ds) => isSyncable(ds) && recordedRevisionHash(ds) === undefined).map(namespaceOf))];
    return Promise.all(namespaces.map((ns) => cluster.listControllerRevisions(ns))).then((l) => l.flat());
  };
  // Read beside the node and pod reads (null: not needed so far); awaited below, after those. If those fail first,
  // these must not reject unobserved (an unhandled rejection ends a Node process: the reliability trials saw a 403
  // burst after an API-server restart do just that).
  let revisionsRead: Promise<V1ControllerRevision[] | null>;
  dsRead.catch(() => undefined);
  let states: NodeState[];
  if (names.length > deps.options.wideReadThreshold) {
    revisionsRead = dsRead.then(listRevisions);
    revisionsRead.catch(() => undefined);
    const [nodes, pods] = await Promise.all([cluster.listNodes(), cluster.listPods()]);
    states = nodeStates(nodes, pods, wanted);
  } else {
    // Per-node reads are small (the API server serves `spec.nodeName` from an index); at most 16 nodes in flight.
    // A node's pods and the pods not yet bound are listed at once, and a pod bound between the two reads must not be
    // in neither (the pass would create a second pod for its node: seen at N = 1,000, docs/benchmarks.md). Binding only
    // ever moves a pod from the unbound list to its node's, so a node list read no earlier than the unbound one
    // (resourceVersion, core/versions.ts `readNoEarlier`) has every pod the unbound list lacks: a pod bound in between
    // is in both (counted once, as the later, bound copy). Read earlier (or with resourceVersions that do not
    // compare), the node's pods are listed again, now after. The node GETs start at once, and so do the pod lists,
    // unless every node was just created: then only once one of them turns out to need its pods read (during a
    // scale-up the unbound list holds every pod waiting for the new nodes).
    let unscheduledRead: Promise<PodList> | undefined;
    const unscheduled = () => {
      if (unscheduledRead === undefined) {
        unscheduledRead = cluster.listUnscheduledPods();
        unscheduledRead.catch(() => undefined);
      }
      return unscheduledRead;
    };
    const podsOn = async (name: string): Promise<V1Pod[]> => {
      const [pending, first] = await Promise.all([unscheduled(), cluster.listPodsOnNode(name)]);
      const onNode = readNoEarlier(first.resourceVersion, pending.resourceVersion) ? first : await cluster.listPodsOnNode(name, true);
      const aimed = pending.pods.filter((pod) => getTargetNodeName(pod) === name);
      return aimed.length > 0 ? uniquePods([...aimed, ...onNode.pods]) : onNode.pods;
    };
    if (names.some((name) => !created.has(name))) unscheduled();
    // A creation whose hint carries the node as created (Hint `registered`) is first decided on that copy: only if some
    // DaemonSet should run a pod on it is the node read.
    const nodesRead = mapLimit(names, 16, (name) => createdOrRead(pass, { name, registered: created.get(name) }));
    nodesRead.catch(() => undefined);
    const firstRound = Promise.all([dsRead, nodesRead]);
    firstRound.catch(() => undefined);
    revisionsRead = firstRound.then(([list, nodes]) => (wantingPods(list, nodes).length > 0 ? listRevisions(list) : null));
    revisionsRead.catch(() => undefined);
    states = await mapLimit(names, 16, async (name, i) => {
      if (created.has(name)) {
        const [list, nodes] = await firstRound;
        const asFirstRead = nodes[i] ?? null;
        if (asFirstRead !== null && wantingPods(list, [asFirstRead]).length === 0) return { name, node: asFirstRead, pods: [] };
      }
      const nodeRead = created.get(name) !== undefined ? cluster.getNode(name) : nodesRead.then((nodes) => nodes[i] ?? null);
      nodeRead.catch(() => undefined);
      const pods = await podsOn(name);
      return { name, node: await nodeRead, pods };
    });
    for (const state of states) if (state.node === null) pass.confirmedGone.add(state.name);
  }
  const daemonSets = await dsRead;
  const counted = countedOn(daemonSets, states);
  // Not read early: no DaemonSet should run here, but pods of some are here (to keep or delete); their hash still
  // decides which of a node's pods is current (surge).
  const revisions = (await revisionsRead) ?? (counted.length > 0 ? await listRevisions(counted) : []);
  // A DaemonSet whose current revision is not written yet (just created or edited) is left to its DaemonSet-wide pass,
  // which writes the revision before any pod (upstream: history before manage), so no pod carries a hash that no
  // ControllerRevision has.
  const hashes = new Map<string, string>();
  const withoutHistory: V1DaemonSet[] = [];
  for (const ds of counted) {
    const recorded = recordedRevisionHash(ds);
    if (recorded !== undefined) {
      hashes.set(ds.metadata?.uid ?? '', recorded);
      continue;
    }
    const current = currentRevision(ds, revisionsOf(ds, revisions));
    if (current.written) hashes.set(ds.metadata?.uid ?? '', current.hash);
    else withoutHistory.push(ds);
  }
  return { daemonSets: daemonSets.filter((ds) => !withoutHistory.includes(ds)), states, hashes, withoutHistory };
}

/**
 * The node as its creation stored it, as far as eligibility reads it, where the hint carries that (Hint `registered`);
 * else the node as read now (null: gone).
 */
function createdOrRead(pass: Pass, { name, registered }: CreatedNode): Promise<V1Node | null> {
  if (registered === undefined) return pass.cluster.getNode(name);
  return Promise.resolve({ metadata: { name, ...(registered.labels ? { labels: registered.labels } : {}) }, spec: registered.taints ? { taints: registered.taints } : {} });
}

/** A node creation hint: the node's name and, when the hint carries it, the node as created (Hint `registered`). */
export interface CreatedNode {
  name: string;
  registered?: RegisteredNode | undefined;
}

/**
 * Whether the nodes of these creation hints need no pass: no DaemonSet should run a pod on any of them yet
 * (`readForNodes` on a created node stops there too). Written nothing: the caller needs no pass lock. One read, the
 * DaemonSets, where every hint carries the node as created (Hint `registered`): whatever the node became since is a
 * change with a hint of its own, and a node deleted since has nothing of ours on it. A hint without it costs a GET,
 * and the node must exist.
 */
export async function nothingForCreatedNodes(pass: Pass, created: readonly CreatedNode[]): Promise<boolean> {
  const [daemonSets, nodes] = await Promise.all([pass.cluster.listDaemonSets(), mapLimit(created, 16, (c) => createdOrRead(pass, c))]);
  return nodes.every((node) => node !== null) && wantingPods(daemonSets, nodes).length === 0;
}

/** The snapshot to plan with: reads the failed-pod backoff only where a DaemonSet has a Failed pod (the rare path). */
export async function snapshotWithBackoffs(pass: Pass, daemonSets: V1DaemonSet[], states: NodeState[], hashes: Map<string, string>): Promise<Snapshot> {
  const backoffs = new Map<string, BackoffState>();
  await Promise.all(
    backoffsToRead(daemonSets, states).map(async ({ ds, node }) => {
      const state = await pass.cluster.getBackoff(daemonSetRef(ds), node);
      if (state) backoffs.set(backoffKey(ds, node), state);
    }),
  );
  return { daemonSets, nodes: states, backoffs, hashes };
}
