/**
 * Pure decisions and status bodies for pods on simulated nodes: what a kubelet would report. No I/O, no clock.
 * Times are strings (RFC 3339) because they go straight into JSON patch bodies; existing times are copied as found
 * (a Date from a typed list, a string from a watch — both serialize to RFC 3339).
 */
import { createHash } from 'node:crypto';
import type { V1Container, V1Pod, V1PodCondition } from '@kubernetes/client-node';

/** A pod status as sent in a merge patch of pods/status (plain JSON, not the client-node model). */
export interface PodStatusBody {
  phase: 'Pending' | 'Running' | 'Failed';
  message?: string;
  reason?: string;
  conditions: ConditionBody[];
  hostIP?: string;
  hostIPs?: { ip: string }[];
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime: unknown;
  initContainerStatuses?: ContainerStatusBody[];
  containerStatuses: ContainerStatusBody[];
}

export interface ConditionBody {
  type: string;
  status: 'True' | 'False';
  reason?: string;
  message?: string;
  lastTransitionTime: unknown;
  lastProbeTime: null;
}

export interface ContainerStatusBody {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: Record<string, Record<string, unknown>>;
  lastState: Record<string, never>;
}

/**
 * `sync`: write the status a kubelet would report now (Running+Ready, or Pending with ImagePullBackOff for broken
 * images); `delete`: finish a graceful deletion; `none`: nothing to do.
 */
export type PodAction = 'none' | 'sync' | 'delete';

export interface PodContext {
  /** False while the node is flipped not-ready: a kubelet that reports NotReady starts nothing new. */
  nodeWantsReady: boolean;
  broken: RegExp;
}

export function isTerminal(pod: V1Pod): boolean {
  return pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded';
}

export function planPod(pod: V1Pod, ctx: PodContext): PodAction {
  if (pod.metadata?.deletionTimestamp) {
    if (pod.metadata.deletionGracePeriodSeconds !== 0) return 'delete';
    // Grace 0 already: a delete of ours went through. Finalizers holding the pod are not the kubelet's business (and
    // deleting again on every event would loop). Without finalizers the API server was stopped between the delete's
    // two steps (set grace 0, then remove): it keeps such a pod until asked again, and a kubelet asks again.
    return (pod.metadata.finalizers?.length ?? 0) > 0 ? 'none' : 'delete';
  }
  // Failed/Succeeded are final (the API server refuses to leave them, and `nodes fail-pod` must stick).
  if (isTerminal(pod)) return 'none';
  if (!ctx.nodeWantsReady) return 'none';
  const desired = podStatusFor(pod, { broken: ctx.broken, now: '', hostIP: '' });
  return summarize(pod.status) === summarize(desired) ? 'none' : 'sync';
}

export function isBrokenImage(image: string | undefined, broken: RegExp): boolean {
  return image !== undefined && broken.test(image);
}

export function hasBrokenImage(pod: V1Pod, broken: RegExp): boolean {
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  return all.some((c) => isBrokenImage(c.image, broken));
}

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `registry:5000/team/app:1.2` → `registry:5000/team/app@sha256:…` (a digest derived from the reference). */
export function imageIDOf(image: string): string {
  const at = image.indexOf('@');
  if (at !== -1) return image;
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  const repo = colon > slash ? image.slice(0, colon) : image;
  return `${repo}@sha256:${sha(`image:${image}`)}`;
}

/** A pod IP in 10.64.0.0/10 derived from the UID; hostNetwork pods get the node's IP, as with a real kubelet. */
export function podIPOf(pod: V1Pod, hostIP: string): string {
  if (pod.spec?.hostNetwork) return hostIP;
  const d = createHash('sha256').update(`pod:${pod.metadata?.uid ?? pod.metadata?.name ?? ''}`).digest();
  return `10.${64 + (d[0]! & 0x3f)}.${d[1]!}.${1 + (d[2]! % 254)}`;
}

function containerID(pod: V1Pod, name: string): string {
  return `containerd://${sha(`container:${pod.metadata?.uid ?? ''}:${name}`)}`;
}

function base(pod: V1Pod, c: V1Container): Pick<ContainerStatusBody, 'name' | 'image' | 'imageID' | 'restartCount' | 'lastState'> {
  return { name: c.name, image: c.image ?? '', imageID: '', restartCount: 0, lastState: {} };
}

function running(pod: V1Pod, c: V1Container, now: string): ContainerStatusBody {
  return {
    ...base(pod, c),
    imageID: imageIDOf(c.image ?? ''),
    containerID: containerID(pod, c.name),
    ready: true,
    started: true,
    state: { running: { startedAt: now } },
  };
}

function waiting(pod: V1Pod, c: V1Container, reason: string, message?: string): ContainerStatusBody {
  return {
    ...base(pod, c),
    ready: false,
    started: false,
    state: { waiting: { reason, ...(message ? { message } : {}) } },
  };
}

function completed(pod: V1Pod, c: V1Container, now: string): ContainerStatusBody {
  const id = containerID(pod, c.name);
  return {
    ...base(pod, c),
    imageID: imageIDOf(c.image ?? ''),
    containerID: id,
    ready: false,
    started: false,
    state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now, containerID: id } },
  };
}

function pullBackOff(pod: V1Pod, c: V1Container): ContainerStatusBody {
  return waiting(pod, c, 'ImagePullBackOff', `Back-off pulling image "${c.image ?? ''}"`);
}

/** Keeps an existing condition's lastTransitionTime when its status does not change. */
function condition(
  existing: readonly V1PodCondition[],
  type: string,
  ok: boolean,
  now: string,
  reason?: string,
  message?: string,
): ConditionBody {
  const status = ok ? 'True' : 'False';
  const prior = existing.find((c) => c.type === type);
  const lastTransitionTime = prior && prior.status === status && prior.lastTransitionTime ? prior.lastTransitionTime : now;
  return {
    type,
    status,
    ...(!ok && reason ? { reason } : {}),
    ...(!ok && message ? { message } : {}),
    lastTransitionTime,
    lastProbeTime: null,
  };
}

const OWN_CONDITIONS = ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready', 'PodScheduled'];

export interface StatusInputs {
  broken: RegExp;
  /** RFC 3339. */
  now: string;
  hostIP: string;
}

/**
 * The status a kubelet reports once it has done all it can for the pod: every container running and ready, or —
 * for any container whose image matches `broken` — stuck in ImagePullBackOff (phase Pending, not Ready). Init
 * containers run to completion first (sidecars, restartPolicy Always, keep running); a broken init container
 * blocks the rest as on a real node. Conditions other than the kubelet's (e.g. DisruptionTarget) are kept.
 */
export function podStatusFor(pod: V1Pod, inputs: StatusInputs): PodStatusBody {
  const { broken, now, hostIP } = inputs;
  const existing = pod.status?.conditions ?? [];
  const inits = pod.spec?.initContainers ?? [];
  const apps = pod.spec?.containers ?? [];
  const firstBrokenInit = inits.findIndex((c) => isBrokenImage(c.image, broken));
  const initialized = firstBrokenInit === -1;

  const initStatuses = inits.map((c, i) => {
    if (!initialized && i === firstBrokenInit) return pullBackOff(pod, c);
    if (!initialized && i > firstBrokenInit) return waiting(pod, c, 'PodInitializing');
    return c.restartPolicy === 'Always' ? running(pod, c, now) : completed(pod, c, now);
  });
  const appStatuses = apps.map((c) => {
    if (!initialized) return waiting(pod, c, 'PodInitializing');
    return isBrokenImage(c.image, broken) ? pullBackOff(pod, c) : running(pod, c, now);
  });

  const notReady = appStatuses.filter((s) => !s.ready).map((s) => s.name);
  const containersReady = notReady.length === 0;
  const gatesOpen = (pod.spec?.readinessGates ?? []).every(
    (g) => existing.find((c) => c.type === g.conditionType)?.status === 'True',
  );
  const unreadyMessage = `containers with unready status: [${notReady.join(' ')}]`;
  // A node without an InternalIP (not one of ours) gets no host IP rather than an invalid empty one.
  const podIP = hostIP || !pod.spec?.hostNetwork ? podIPOf(pod, hostIP) : undefined;
  const incompleteInits = inits
    .slice(Math.max(firstBrokenInit, 0))
    .map((c) => c.name)
    .join(' ');

  return {
    // As kubelet's getPhase: any container still waiting (never started) keeps the pod Pending.
    phase: initialized && appStatuses.every((s) => s.started) ? 'Running' : 'Pending',
    conditions: [
      ...existing.filter((c) => !OWN_CONDITIONS.includes(c.type)).map(copyCondition),
      condition(existing, 'PodReadyToStartContainers', true, now),
      condition(existing, 'Initialized', initialized, now, 'ContainersNotInitialized', `containers with incomplete status: [${incompleteInits}]`),
      condition(existing, 'ContainersReady', containersReady, now, 'ContainersNotReady', unreadyMessage),
      condition(existing, 'Ready', containersReady && gatesOpen, now, containersReady ? 'ReadinessGatesNotReady' : 'ContainersNotReady', containersReady ? 'corresponding condition of pod readiness gate is not True' : unreadyMessage),
      condition(existing, 'PodScheduled', true, now),
    ],
    ...(hostIP ? { hostIP, hostIPs: [{ ip: hostIP }] } : {}),
    ...(podIP ? { podIP, podIPs: [{ ip: podIP }] } : {}),
    startTime: pod.status?.startTime ?? now,
    ...(inits.length > 0 ? { initContainerStatuses: initStatuses } : {}),
    containerStatuses: appStatuses,
  };
}

function copyCondition(c: V1PodCondition): ConditionBody {
  return {
    type: c.type,
    status: c.status === 'True' ? 'True' : 'False',
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.message ? { message: c.message } : {}),
    lastTransitionTime: c.lastTransitionTime,
    lastProbeTime: null,
  };
}

/**
 * `nodes fail-pod`: the pod's containers exited with code 1 and the pod is Failed — what a kubelet reports when a
 * restartPolicy Never pod's container fails (or an eviction ends a pod).
 */
export function failedStatus(pod: V1Pod, now: string): PodStatusBody {
  const existing = pod.status?.conditions ?? [];
  const prior = new Map((pod.status?.containerStatuses ?? []).map((s) => [s.name, s]));
  const containerStatuses = (pod.spec?.containers ?? []).map((c): ContainerStatusBody => {
    const id = prior.get(c.name)?.containerID ?? containerID(pod, c.name);
    const startedAt = prior.get(c.name)?.state?.running?.startedAt ?? now;
    return {
      ...base(pod, c),
      imageID: imageIDOf(c.image ?? ''),
      containerID: id,
      ready: false,
      started: false,
      state: { terminated: { exitCode: 1, reason: 'Error', startedAt, finishedAt: now, containerID: id } },
    };
  });
  const hostIP = pod.status?.hostIP;
  return {
    phase: 'Failed',
    message: 'simulated failure (nodes fail-pod)',
    conditions: [
      ...existing.filter((c) => c.type !== 'Ready' && c.type !== 'ContainersReady').map(copyCondition),
      condition(existing, 'ContainersReady', false, now, 'PodFailed'),
      condition(existing, 'Ready', false, now, 'PodFailed'),
    ],
    ...(hostIP ? { hostIP, hostIPs: [{ ip: hostIP }] } : {}),
    startTime: pod.status?.startTime ?? now,
    ...(pod.status?.initContainerStatuses ? { initContainerStatuses: pod.status.initContainerStatuses as unknown as ContainerStatusBody[] } : {}),
    containerStatuses,
  };
}

/**
 * The parts of a status that decide whether a rewrite is due (not times, IDs or IPs): phase, kubelet conditions and
 * each container's image, readiness and state. Accepts a client-node status or a body built here.
 */
export function summarize(status: unknown): string {
  const s = (status ?? {}) as {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; image?: string; ready?: boolean; state?: Record<string, { reason?: string } | undefined> }[];
    initContainerStatuses?: { name: string; image?: string; ready?: boolean; state?: Record<string, { reason?: string } | undefined> }[];
  };
  const cond = (type: string) => s.conditions?.find((c) => c.type === type)?.status ?? '-';
  const containers = (list: NonNullable<typeof s.containerStatuses> | undefined) =>
    (list ?? [])
      .map((c) => {
        const kind = Object.keys(c.state ?? {}).find((k) => c.state?.[k] !== undefined && c.state?.[k] !== null) ?? '-';
        return `${c.name}=${c.image ?? ''}/${c.ready ? 'ready' : 'unready'}/${kind}/${c.state?.[kind]?.reason ?? ''}`;
      })
      .sort()
      .join(',');
  return [
    s.phase ?? '-',
    ...OWN_CONDITIONS.filter((t) => t !== 'PodReadyToStartContainers').map((t) => `${t}:${cond(t)}`),
    containers(s.initContainerStatuses),
    containers(s.containerStatuses),
  ].join('|');
}
