import { describe, expect, it } from 'vitest';
import { requestInfo } from '../../../devcluster/faults/request-info.ts';
import {
  type FaultConfigInput,
  FaultConfigError,
  decide,
  faultKinds,
  matches,
  parseFaultConfig,
  seededRandom,
  statusBody,
} from '../../../devcluster/faults/rules.ts';

const req = (method: string, url: string) => requestInfo(method, url);
const listPods = req('GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dn1');
const createPod = req('POST', '/api/v1/namespaces/ns/pods');
const getNode = req('GET', '/api/v1/nodes/n1');
const patchStatus = req('PATCH', '/apis/apps/v1/namespaces/ns/daemonsets/ds/status');
const version = req('GET', '/version');

describe('matches', () => {
  it.each([
    ['no condition: everything', {}, [listPods, createPod, getNode, patchStatus, version], []],
    ['only writes', { verbs: ['write'] }, [createPod, patchStatus], [listPods, getNode, version]],
    ['only reads', { verbs: ['read'] }, [listPods, getNode], [createPod, patchStatus]],
    ['only LIST pods', { verbs: ['list'], resources: ['pods'] }, [listPods], [createPod, getNode]],
    // 'daemonsets' alone is the main resource: its status subresource is another resource, as in RBAC.
    ['a resource without its subresources', { resources: ['daemonsets'] }, [], [patchStatus]],
    ['a subresource', { resources: ['daemonsets/status'] }, [patchStatus], [listPods]],
    ['a resource and every subresource', { resources: ['daemonsets/*'] }, [patchStatus], [listPods]],
    ['any resource request, not /version', { resources: ['*'] }, [listPods, patchStatus], [version]],
    ['a namespace', { namespaces: ['ns'] }, [createPod, patchStatus], [listPods, getNode]],
    ['an API group', { apiGroups: ['apps'] }, [patchStatus], [createPod, version]],
    ['the core group', { apiGroups: [''] }, [createPod, getNode], [patchStatus, version]],
  ] as const)('%s', (_name, match, yes, no) => {
    for (const info of yes) expect(matches(match as never, info), `${info.verb} ${info.path}`).toBe(true);
    for (const info of no) expect(matches(match as never, info), `${info.verb} ${info.path}`).toBe(false);
  });
});

describe('decide', () => {
  const config = (input: FaultConfigInput) => parseFaultConfig(input);

  it('forwards what no rule matches', () => {
    expect(decide(config({ rules: [{ match: { verbs: ['write'] }, rates: { '503': 1 } }] }), listPods, [], 0)).toBeUndefined();
  });

  it('picks the kind whose share of the cumulative rates the draw falls in', () => {
    const c = config({ rules: [{ rates: { '429': 0.1, '500': 0.2, reset: 0.3 } }] });
    expect(decide(c, listPods, [], 0.05)?.kind).toBe('429');
    expect(decide(c, listPods, [], 0.1)?.kind).toBe('500');
    expect(decide(c, listPods, [], 0.29)?.kind).toBe('500');
    expect(decide(c, listPods, [], 0.59)?.kind).toBe('reset');
    expect(decide(c, listPods, [], 0.61)).toBeUndefined();
  });

  it('lets the first matching rule decide, even when it draws no fault', () => {
    const c = config({ rules: [{ match: { resources: ['pods'] }, rates: { slow: 0.5 } }, { rates: { '503': 1 } }] });
    expect(decide(c, listPods, [], 0.9)).toBeUndefined();
    expect(decide(c, getNode, [], 0.9)?.kind).toBe('503');
  });

  it('skips a rule whose limit is used up, so the next one may match', () => {
    const c = config({ rules: [{ rates: { timeout: 1 }, limit: 2 }, { rates: { '500': 1 } }] });
    expect(decide(c, listPods, [1], 0.5)).toMatchObject({ kind: 'timeout', ruleIndex: 0 });
    expect(decide(c, listPods, [2], 0.5)).toMatchObject({ kind: '500', ruleIndex: 1 });
  });

  it('gives each kind about its rate over many seeded draws', () => {
    const c = config({ rules: [{ rates: { '429': 0.1, '503': 0.05, truncated: 0.02 } }] });
    const random = seededRandom(42);
    const seen: Record<string, number> = {};
    for (let i = 0; i < 20_000; i += 1) {
      const kind = decide(c, listPods, [], random())?.kind ?? 'none';
      seen[kind] = (seen[kind] ?? 0) + 1;
    }
    expect(seen['429']! / 20_000).toBeCloseTo(0.1, 1);
    expect(seen['503']! / 20_000).toBeCloseTo(0.05, 1);
    expect(seen['truncated']! / 20_000).toBeCloseTo(0.02, 1);
    expect(seen['none']! / 20_000).toBeCloseTo(0.83, 1);
  });
});

describe('parseFaultConfig', () => {
  it('fills the defaults', () => {
    expect(parseFaultConfig({ rules: [{ rates: { '429': 0.5 } }] }).rules[0]).toEqual({
      match: {},
      rates: { '429': 0.5 },
      afterUpstream: false,
      retryAfterSeconds: 1,
      holdMs: 30_000,
      delayMs: 2_000,
    });
  });

  it.each([
    ['rates adding up to more than 1', { rules: [{ rates: { '429': 0.6, '500': 0.6 } }] }, /rules\.0\.rates: the rates of one rule add up to more than 1/],
    ['an unknown fault kind', { rules: [{ rates: { '418': 0.1 } }] }, /rules\.0\.rates/],
    ['a rate above 1', { rules: [{ rates: { reset: 2 } }] }, /rules\.0\.rates\.reset/],
    ['an unknown verb', { rules: [{ match: { verbs: ['destroy'] }, rates: {} }] }, /rules\.0\.match\.verbs\.0/],
    ['a resource pattern with a slash too many', { rules: [{ match: { resources: ['a/b/c'] }, rates: {} }] }, /rules\.0\.match\.resources\.0/],
    ['an unknown field (a typo would otherwise be ignored)', { rules: [{ rate: { '429': 1 } }] }, /rules\.0/],
    ['a negative hold', { rules: [{ rates: { timeout: 1 }, holdMs: -1 }] }, /rules\.0\.holdMs/],
  ])('refuses %s, naming where', (_name, input, message) => {
    expect(() => parseFaultConfig(input)).toThrow(FaultConfigError);
    expect(() => parseFaultConfig(input)).toThrow(message);
  });
});

describe('seededRandom', () => {
  it('repeats its sequence for a seed, stays in [0, 1)', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(seededRandom(8)()).not.toBe(xs[0]);
  });
});

describe('statusBody', () => {
  it.each([
    ['429', 'TooManyRequests'],
    ['500', 'InternalError'],
    ['503', 'ServiceUnavailable'],
  ] as const)('%s is a Status with reason %s, as the API server sends', (code, reason) => {
    expect(statusBody(code, 3)).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code: Number(code) });
  });

  it('says the retry delay in the 429 body too', () => {
    expect(statusBody('429', 3)).toMatchObject({ details: { retryAfterSeconds: 3 } });
  });

  it('knows every kind', () => {
    expect(faultKinds).toEqual(['429', '500', '503', 'timeout', 'reset', 'slow', 'truncated']);
  });
});
