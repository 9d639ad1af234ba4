/**
 * What each function of serverless.yml starts with, in each way of deploying it (EKS IAM authentication, the static
 * token opt-in): the provider's and the function's `environment`, with `${param:…}` taken from the deployment's params
 * (else params.default) and `${env:…}` at its fallback, must pass src/config.ts, and the functions that call the API
 * server must reach it. The local Lambda runtime cannot show this: it gives every function a KUBECONFIG instead.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../../devcluster/paths.ts';
import { loadConfig, requireClusterAccess } from '../../src/config.ts';

interface Serverless {
  params: { default: Record<string, unknown> };
  provider: { environment: Record<string, unknown> };
  functions: Record<string, { environment?: Record<string, unknown>; events?: { cloudwatchLog?: { filter?: string } }[] }>;
}

const serverless = parse(readFileSync(join(repoRoot, 'serverless.yml'), 'utf8'), { merge: true }) as Serverless;
const callsTheCluster = new Set(['reconcile', 'resync']);
const clusterVariables = ['KUBE_SERVER', 'KUBE_CA_DATA', 'EKS_CLUSTER_NAME', 'KUBE_TOKEN_PARAMETER'];

/** One `${…}` of serverless.yml, resolved as the framework would for a deployment with these params. */
function resolve(value: unknown, params: Record<string, string>, stage: string): string {
  if (typeof value === 'object') return 'https://sqs.eu-west-1.amazonaws.com/123456789012/daemonless-dev-hints'; // { Ref: HintsQueue }
  return String(value).replace(/\$\{(\w+):([^,}]+)(?:,\s*'([^']*)')?\}/g, (_all, kind: string, name: string, fallback?: string) => {
    if (kind === 'param') return resolve(params[name] ?? serverless.params.default[name] ?? '', params, stage);
    if (kind === 'env') return fallback ?? '';
    if (kind === 'sls' && name === 'stage') return stage;
    throw new Error(`unresolved \${${kind}:${name}}`);
  });
}

function environmentOf(fn: string, params: Record<string, string>): Record<string, string> {
  const raw = { ...serverless.provider.environment, ...serverless.functions[fn]!.environment };
  const env = Object.fromEntries(Object.entries(raw).map(([key, value]) => [key, resolve(value, params, 'dev')]));
  // What Lambda itself sets.
  return { ...env, AWS_LAMBDA_FUNCTION_NAME: `daemonless-dev-${fn}`, AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 's' };
}

/** `certificateAuthority.data` of `aws eks describe-cluster`: base64 of the PEM (src/config.ts checks that much). */
const kubeCaData = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIU\n-----END CERTIFICATE-----\n').toString('base64');

const deployments = {
  'EKS IAM authentication': { eksClusterName: 'prod', kubeServer: 'https://ABC.gr7.eu-west-1.eks.amazonaws.com', kubeCaData },
  'a static token': { kubeTokenParameter: '/daemonless/dev/kube-token', kubeServer: 'https://10.0.0.1:6443', kubeCaData },
};

describe('each function starts in each way of deploying it', () => {
  const functions = Object.keys(serverless.functions);

  it('the functions are the ones this test knows', () => {
    expect([...functions].sort()).toEqual(['admission', 'audit', 'auditlogs', 'cloudevents', 'reconcile', 'resync', 'watch']);
  });

  it.each(Object.entries(deployments).flatMap(([way, params]) => functions.map((fn) => [way, fn, params] as const)))('%s: %s', (_way, fn, params) => {
    const config = loadConfig(environmentOf(fn, params));
    if (callsTheCluster.has(fn)) expect(() => requireClusterAccess(config)).not.toThrow();
  });

  it('only the functions that call the API server are told where it is and how to authenticate', () => {
    for (const key of clusterVariables) expect(serverless.provider.environment).not.toHaveProperty(key);
    for (const fn of functions) {
      const keys = Object.keys(serverless.functions[fn]!.environment ?? {}).filter((key) => clusterVariables.includes(key));
      expect(keys.sort(), fn).toEqual(callsTheCluster.has(fn) ? [...clusterVariables].sort() : []);
    }
  });

  it('reconcile deployed without a cluster refuses to start, naming what is missing', () => {
    const config = loadConfig(environmentOf('reconcile', {}));
    expect(() => requireClusterAccess(config)).toThrow(/KUBE_SERVER: required on Lambda/);
  });
});

describe('the audit-log subscription filter', () => {
  const filter = serverless.functions.auditlogs!.events!.find((event) => event.cloudwatchLog)!.cloudwatchLog!.filter!;

  it('leaves out the reconciler’s own creates and patches, by the user infra/rbac.yaml binds, as the audit policy does', () => {
    const rbac = readFileSync(join(repoRoot, 'infra', 'rbac.yaml'), 'utf8');
    const policy = readFileSync(join(repoRoot, 'infra', 'audit-policy.yaml'), 'utf8');
    const user = /kind: User\n\s+name: ([\w-]+)/.exec(rbac)![1]!;
    expect(policy).toContain(`users: [${user}]`);
    expect(filter).toContain(`($.user.username != "${user}" || $.verb = "delete")`);
  });

  it('fits CloudWatch Logs’ limit of 1,024 characters', () => {
    expect(filter.length).toBeLessThanOrEqual(1024);
  });
});
