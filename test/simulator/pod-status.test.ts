import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { failedStatus, imageIDOf, planPod, podStatusFor, summarize } from '../../devcluster/simulator/pod-status.ts';

const NOW = '2026-11-28T00:00:00.000Z';
const LATER = '2026-11-28T00:05:00.000Z';
const broken = /:unready$/;
const ready = { nodeWantsReady: true, broken };

function pod(overrides: { images?: string[]; init?: { image: string; restartPolicy?: string }[]; status?: V1Pod['status']; deleting?: boolean; grace?: number; finalizers?: string[]; hostNetwork?: boolean; gates?: string[] } = {}): V1Pod {
  return {
    metadata: {
      name: 'p',
      namespace: 'ns',
      uid: 'uid-1',
      resourceVersion: '5',
      ...(overrides.deleting ? { deletionTimestamp: NOW as unknown as Date, deletionGracePeriodSeconds: overrides.grace ?? 30 } : {}),
      ...(overrides.finalizers ? { finalizers: overrides.finalizers } : {}),
    },
    spec: {
      nodeName: 'sim-x-0',
      containers: (overrides.images ?? ['registry.example:5000/team/app:1.2']).map((image, i) => ({ name: `c${i}`, image })),
      ...(overrides.init ? { initContainers: overrides.init.map((c, i) => ({ name: `init${i}`, ...c })) } : {}),
      ...(overrides.hostNetwork ? { hostNetwork: true } : {}),
      ...(overrides.gates ? { readinessGates: overrides.gates.map((conditionType) => ({ conditionType })) } : {}),
    },
    status: overrides.status ?? { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: NOW as unknown as Date }] },
  };
}

/** The pod after the simulator's status write was applied. */
function applied(p: V1Pod, now = NOW): V1Pod {
  return { ...p, status: podStatusFor(p, { broken, now, hostIP: '10.128.0.1' }) as unknown as V1Pod['status'] };
}

describe('planPod', () => {
  it.each<[string, V1Pod, typeof ready, ReturnType<typeof planPod>]>([
    ['new bound pod: sync', pod(), ready, 'sync'],
    ['already Running and Ready: nothing', applied(pod()), ready, 'none'],
    ['broken image, not yet reported: sync', pod({ images: ['app:unready'] }), ready, 'sync'],
    ['broken image, already in ImagePullBackOff: nothing', applied(pod({ images: ['app:unready'] })), ready, 'none'],
    ['Failed (fail-pod): never touched again', pod({ status: { phase: 'Failed' } }), ready, 'none'],
    ['Succeeded: never touched again', pod({ status: { phase: 'Succeeded' } }), ready, 'none'],
    ['Terminating: complete the deletion', pod({ deleting: true }), ready, 'delete'],
    // After our grace-period-0 delete only finalizers hold it: not the kubelet's business, and no delete loop.
    ['Terminating with grace 0, held by a finalizer: nothing', pod({ deleting: true, grace: 0, finalizers: ['example.com/keep'] }), ready, 'none'],
    // The API server died between setting grace 0 and removing the pod: it stays until deleted again (a CI run hung on this).
    ['Terminating with grace 0 and no finalizer: delete again', pod({ deleting: true, grace: 0 }), ready, 'delete'],
    ['Terminating on a not-ready node: still delete', pod({ deleting: true }), { ...ready, nodeWantsReady: false }, 'delete'],
    ['node held not-ready: start nothing', pod(), { ...ready, nodeWantsReady: false }, 'none'],
  ])('%s', (_, p, ctx, action) => {
    expect(planPod(p, ctx)).toBe(action);
  });

  it('re-syncs a pod the node lifecycle controller marked not Ready', () => {
    const running = applied(pod());
    const marked: V1Pod = {
      ...running,
      status: { ...running.status, conditions: running.status!.conditions!.map((c) => (c.type === 'Ready' ? { ...c, status: 'False' } : c)) },
    };
    expect(planPod(marked, ready)).toBe('sync');
  });

  it('re-syncs when a container image changed in place', () => {
    const running = applied(pod());
    const updated: V1Pod = { ...running, spec: { ...running.spec!, containers: [{ name: 'c0', image: 'app:unready' }] } };
    expect(planPod(updated, ready)).toBe('sync');
  });
});

describe('podStatusFor', () => {
  it('reports Running and Ready with the kubelet conditions, IPs and container statuses', () => {
    const s = podStatusFor(pod(), { broken, now: LATER, hostIP: '10.128.0.1' });
    expect(s.phase).toBe('Running');
    expect(s.hostIP).toBe('10.128.0.1');
    expect(s.hostIPs).toEqual([{ ip: '10.128.0.1' }]);
    expect(s.podIP).toMatch(/^10\.\d+\.\d+\.\d+$/);
    expect(s.podIP).not.toBe('10.128.0.1');
    expect(s.startTime).toBe(LATER);
    const byType = Object.fromEntries(s.conditions.map((c) => [c.type, c]));
    for (const type of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready', 'PodReadyToStartContainers']) {
      expect(byType[type]?.status, type).toBe('True');
    }
    // Unchanged conditions keep their transition time; new ones get now.
    expect(byType.PodScheduled?.lastTransitionTime).toBe(NOW);
    expect(byType.Ready?.lastTransitionTime).toBe(LATER);
    expect(s.containerStatuses).toEqual([
      {
        name: 'c0',
        image: 'registry.example:5000/team/app:1.2',
        imageID: expect.stringMatching(/^registry\.example:5000\/team\/app@sha256:[0-9a-f]{64}$/),
        containerID: expect.stringMatching(/^containerd:\/\/[0-9a-f]{64}$/),
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: LATER } },
        lastState: {},
      },
    ]);
  });

  it('gives hostNetwork pods the node IP', () => {
    expect(podStatusFor(pod({ hostNetwork: true }), { broken, now: NOW, hostIP: '10.128.0.9' }).podIP).toBe('10.128.0.9');
  });

  it('leaves a broken image Pending in ImagePullBackOff, not Ready, other containers running', () => {
    const s = podStatusFor(pod({ images: ['app:1', 'agent:unready'] }), { broken, now: NOW, hostIP: '10.128.0.1' });
    expect(s.phase).toBe('Pending');
    const byType = Object.fromEntries(s.conditions.map((c) => [c.type, c]));
    expect(byType.Ready).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [c1]' });
    expect(byType.ContainersReady?.status).toBe('False');
    expect(s.containerStatuses[0]).toMatchObject({ name: 'c0', ready: true, state: { running: {} } });
    expect(s.containerStatuses[1]).toMatchObject({
      name: 'c1',
      ready: false,
      started: false,
      state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "agent:unready"' } },
    });
  });

  it('runs init containers to completion, keeps sidecars running', () => {
    const s = podStatusFor(pod({ init: [{ image: 'setup:1' }, { image: 'proxy:1', restartPolicy: 'Always' }] }), { broken, now: NOW, hostIP: 'h' });
    expect(s.phase).toBe('Running');
    expect(s.initContainerStatuses?.map((c) => Object.keys(c.state)[0])).toEqual(['terminated', 'running']);
    expect(s.initContainerStatuses?.[0]?.state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  it('a broken init container blocks the pod', () => {
    const s = podStatusFor(pod({ init: [{ image: 'setup:unready' }] }), { broken, now: NOW, hostIP: 'h' });
    expect(s.phase).toBe('Pending');
    expect(s.conditions.find((c) => c.type === 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized' });
    expect(s.initContainerStatuses?.[0]?.state.waiting?.reason).toBe('ImagePullBackOff');
    expect(s.containerStatuses[0]?.state.waiting?.reason).toBe('PodInitializing');
  });

  it('keeps conditions that are not the kubelet’s, and honours readiness gates', () => {
    const p = pod({ gates: ['example.com/lb'], status: { phase: 'Pending', conditions: [{ type: 'example.com/lb', status: 'False' }] } });
    const s = podStatusFor(p, { broken, now: NOW, hostIP: 'h' });
    expect(s.conditions.find((c) => c.type === 'example.com/lb')?.status).toBe('False');
    expect(s.conditions.find((c) => c.type === 'ContainersReady')?.status).toBe('True');
    expect(s.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ReadinessGatesNotReady' });
  });

  it('is stable: applying it twice needs no further write', () => {
    const once = applied(pod(), NOW);
    expect(summarize(podStatusFor(once, { broken, now: LATER, hostIP: '10.128.0.1' }))).toBe(summarize(once.status));
  });
});

describe('failedStatus', () => {
  it('terminates every container with exit code 1 and marks the pod not Ready', () => {
    const running = applied(pod());
    const s = failedStatus(running, LATER);
    expect(s.phase).toBe('Failed');
    expect(s.containerStatuses[0]).toMatchObject({
      ready: false,
      containerID: running.status?.containerStatuses?.[0]?.containerID,
      state: { terminated: { exitCode: 1, reason: 'Error', startedAt: NOW, finishedAt: LATER } },
    });
    expect(s.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodFailed', lastTransitionTime: LATER });
    expect(s.conditions.find((c) => c.type === 'PodScheduled')?.status).toBe('True');
    expect(s.hostIP).toBe('10.128.0.1');
  });
});

describe('imageIDOf', () => {
  it.each([
    ['nginx:1.27', /^nginx@sha256:[0-9a-f]{64}$/],
    ['nginx', /^nginx@sha256:[0-9a-f]{64}$/],
    ['host:5000/app', /^host:5000\/app@sha256:/],
    ['app@sha256:abc', /^app@sha256:abc$/],
  ])('%s', (image, pattern) => {
    expect(imageIDOf(image)).toMatch(pattern);
  });
});

describe('podStatusFor without a node IP', () => {
  it('omits host IPs instead of sending empty ones', () => {
    const s = podStatusFor(pod({ hostNetwork: true }), { broken, now: NOW, hostIP: '' });
    expect(s).not.toHaveProperty('hostIP');
    expect(s).not.toHaveProperty('podIP');
    expect(podStatusFor(pod(), { broken, now: NOW, hostIP: '' }).podIP).toMatch(/^10\./);
  });
});
