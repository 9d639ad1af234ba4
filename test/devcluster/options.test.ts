/**
 * The rule `up` follows on an existing cluster (docs/devcluster.md): options not given keep their running values,
 * options given with another value restart the component that reads them, ports never move.
 */
import { describe, expect, it } from 'vitest';
import { upOptionsFrom } from '../../devcluster/cli.ts';
import {
  type NormalizedOptions,
  OptionsError,
  defaultOptions,
  explicitPorts,
  mergeOptions,
  optionChanges,
  portConflicts,
  requestedOptions,
  resolvePorts,
} from '../../devcluster/options.ts';
import { defaultAuditPolicyFile } from '../../devcluster/paths.ts';

const audit = { url: 'https://127.0.0.1:8788/events/audit', token: 'a-token-of-sufficient-length' };
/** What `npm run up` starts: the audit webhook to the functions. */
const running: NormalizedOptions = mergeOptions(defaultOptions, requestedOptions({ auditWebhook: audit }));

describe('requestedOptions', () => {
  it('leaves out what the caller did not set', () => {
    expect(requestedOptions({})).toEqual({});
    expect(requestedOptions({ upstreamDaemonset: false })).toEqual({ upstreamDaemonset: false });
  });

  it('turns null into an explicit "none" or default', () => {
    expect(requestedOptions({ auditWebhook: null, kcmQps: null })).toEqual({
      auditWebhook: null,
      auditPolicyFile: null,
      auditPolicySha256: null,
      kcmQps: null,
    });
  });

  it('stores a hash of the token, never the token', () => {
    const r = requestedOptions({ auditWebhook: audit });
    expect(r.auditWebhook?.tokenSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(r)).not.toContain(audit.token);
    expect(r.auditPolicyFile).toBe(defaultAuditPolicyFile);
  });

  it.each([
    ['a token over http', { auditWebhook: { url: 'http://127.0.0.1:1/x', token: 't' } }, /only over https/],
    ['a URL that is not http(s)', { auditWebhook: { url: 'ftp://x' } }, /auditWebhook.url/],
    ['a zero QPS', { kcmQps: 0 }, /kcmQps must be a positive number/],
    ['a policy without a webhook', { auditPolicyFile: '/x' }, /auditPolicyFile needs auditWebhook/],
    ['an unreadable policy', { auditWebhook: audit, auditPolicyFile: '/nonexistent/policy.yaml' }, /audit policy file not readable/],
  ])('refuses %s', (_name, options, message) => {
    expect(() => requestedOptions(options)).toThrow(OptionsError);
    expect(() => requestedOptions(options)).toThrow(message);
  });
});

describe('an up on a running cluster', () => {
  it.each([
    // [name, options of this up, changes as "option component"]
    ['a plain up keeps the audit webhook npm run up configured', {}, []],
    ['the same options change nothing', { auditWebhook: audit }, []],
    ['--upstream-daemonset restarts only kube-controller-manager', { upstreamDaemonset: true }, ['upstreamDaemonset kube-controller-manager']],
    ['QPS and burst restart kube-controller-manager', { kcmQps: 50, kcmBurst: 100 }, ['kcmQps kube-controller-manager', 'kcmBurst kube-controller-manager']],
    [
      'dropping the audit webhook explicitly restarts kube-apiserver',
      { auditWebhook: null },
      ['auditWebhook kube-apiserver', 'auditPolicyFile kube-apiserver'],
    ],
    ['a new token restarts kube-apiserver', { auditWebhook: { ...audit, token: 'another-token-of-sufficient-length' } }, ['auditWebhook kube-apiserver']],
    ['--no-simulator stops the simulator', { simulator: false }, ['simulator simulator']],
  ] as const)('%s', (_name, options, expected) => {
    const wanted = mergeOptions(running, requestedOptions(options));
    expect(optionChanges(running, wanted).map((c) => `${c.option} ${c.component}`)).toEqual(expected);
  });

  it('names a policy edit (same file, new content) as a change of kube-apiserver', () => {
    const edited = { ...running, auditPolicySha256: 'f'.repeat(64) };
    expect(optionChanges(running, edited)).toEqual([
      expect.objectContaining({ option: 'auditPolicySha256', component: 'kube-apiserver' }),
    ]);
  });

  it('describes changes without the token', () => {
    const wanted = mergeOptions(running, requestedOptions({ auditWebhook: { ...audit, token: 'another-token-of-sufficient-length' } }));
    const [change] = optionChanges(running, wanted);
    expect(change).toMatchObject({ from: `${audit.url} (token set)`, to: `${audit.url} (token set)` });
    expect(JSON.stringify(change)).not.toContain('another-token');
  });
});

describe('ports', () => {
  const env = { DAEMONLESS_APISERVER_PORT: '20443' };
  it('are explicit only when given by option or variable', () => {
    expect(explicitPorts({}, {})).toEqual({});
    expect(explicitPorts({ scheduler: 1 }, env)).toEqual({ apiserver: 20443, scheduler: 1 });
  });

  it('of a running cluster may not move', () => {
    const ports = resolvePorts({}, env);
    expect(portConflicts(ports, explicitPorts({}, env))).toEqual([]);
    expect(portConflicts(ports, explicitPorts({}, {}))).toEqual([]);
    expect(portConflicts(ports, explicitPorts({}, { DAEMONLESS_APISERVER_PORT: '16443' }))).toEqual([
      'DAEMONLESS_APISERVER_PORT=16443 but it runs on 20443',
    ]);
  });

  it('refuse a value that is not a port, naming the variable', () => {
    expect(() => explicitPorts({}, { DAEMONLESS_ETCD_PORT: 'x' })).toThrow(/DAEMONLESS_ETCD_PORT: not a port: x/);
  });
});

describe('cluster:up command line', () => {
  const values = (v: Record<string, unknown>) => v as Parameters<typeof upOptionsFrom>[0];
  it.each([
    ['nothing: keep everything', {}, {}],
    ['--fresh', { fresh: true }, { fresh: true }],
    ['--upstream-daemonset', { 'upstream-daemonset': true }, { upstreamDaemonset: true }],
    ['--no-upstream-daemonset', { 'no-upstream-daemonset': true }, { upstreamDaemonset: false }],
    ['--no-audit-webhook', { 'no-audit-webhook': true }, { auditWebhook: null }],
    ['--no-simulator', { 'no-simulator': true }, { simulator: false }],
    ['--kcm-qps 50', { 'kcm-qps': '50' }, { kcmQps: 50 }],
    ['--audit-webhook with the token from the environment', { 'audit-webhook': 'https://x/a' }, { auditWebhook: { url: 'https://x/a', token: 'from-env' } }],
  ])('%s', (_name, v, expected) => {
    expect(upOptionsFrom(values(v), { DAEMONLESS_AUDIT_TOKEN: 'from-env' })).toEqual(expected);
  });

  it.each([
    ['both --simulator and --no-simulator', { simulator: true, 'no-simulator': true }, /contradict/],
    ['--audit-token without --audit-webhook', { 'audit-token': 't' }, /--audit-token needs --audit-webhook/],
    ['--audit-webhook and --no-audit-webhook', { 'audit-webhook': 'https://x', 'no-audit-webhook': true }, /contradict/],
    ['a QPS that is not a number', { 'kcm-qps': 'fast' }, /--kcm-qps expects a positive number/],
  ])('refuses %s', (_name, v, message) => {
    expect(() => upOptionsFrom(values(v), {})).toThrow(message);
  });
});
