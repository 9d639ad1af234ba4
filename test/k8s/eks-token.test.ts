/**
 * The EKS token presigner against a reference: @smithy/signature-v4's `presign` (what the AWS SDK for JavaScript uses),
 * a devDependency only. Every row must give the very URL the reference gives for the same request. No network.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import {
  AwsCredentialsError,
  TOKEN_PREFIX,
  createEksTokenProvider,
  credentialsFromEnv,
  eksToken,
  presignGetCallerIdentity,
  type AwsCredentials,
  type PresignInput,
} from '../../src/k8s/eks-token.ts';

// The documentation's example keys (not real credentials). Session tokens contain + / = like real ones.
const KEYS: AwsCredentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const TEMPORARY: AwsCredentials = {
  accessKeyId: 'ASIAEXAMPLEEXAMPLE01',
  secretAccessKey: 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY',
  sessionToken: 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example/token==',
};

/** The reference URL: SignatureV4.presign of the same GET, its query serialised in canonical order, signature last. */
async function referenceUrl({ region, clusterName, credentials, now }: PresignInput, host: string): Promise<{ url: string; query: Record<string, string> }> {
  const signer = new SignatureV4({ service: 'sts', region, credentials, sha256: Sha256 });
  const request = new HttpRequest({
    method: 'GET',
    protocol: 'https:',
    hostname: host,
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host, 'x-k8s-aws-id': clusterName },
  });
  const signed = await signer.presign(request, { expiresIn: 60, signingDate: now });
  const query = signed.query as Record<string, string>;
  const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const pairs = Object.keys(query)
    .filter((key) => key !== 'X-Amz-Signature')
    .sort()
    .map((key) => `${encode(key)}=${encode(query[key] as string)}`);
  return { url: `https://${host}${signed.path}?${pairs.join('&')}&X-Amz-Signature=${query['X-Amz-Signature']}`, query };
}

const rows: [string, PresignInput, string][] = [
  ['us-east-1, temporary credentials', { region: 'us-east-1', clusterName: 'prod', credentials: TEMPORARY, now: new Date('2024-01-02T03:04:05.678Z') }, 'sts.us-east-1.amazonaws.com'],
  ['eu-west-1, long-term keys (no session token)', { region: 'eu-west-1', clusterName: 'my_cluster-2', credentials: KEYS, now: new Date('2025-06-30T12:00:00Z') }, 'sts.eu-west-1.amazonaws.com'],
  // The signing date and the credential scope's date roll over together.
  ['us-gov-west-1, the last millisecond of a year', { region: 'us-gov-west-1', clusterName: 'gov', credentials: TEMPORARY, now: new Date('2023-12-31T23:59:59.999Z') }, 'sts.us-gov-west-1.amazonaws.com'],
  ['cn-north-1, the aws-cn partition host', { region: 'cn-north-1', clusterName: 'c1', credentials: TEMPORARY, now: new Date('2024-02-29T00:00:00Z') }, 'sts.cn-north-1.amazonaws.com.cn'],
  // Not a real session token's alphabet: exercises the RFC 3986 encoding of reserved and sub-delimiter characters.
  ['a session token with characters encodeURIComponent leaves alone', { region: 'us-east-2', clusterName: 'x', credentials: { ...KEYS, sessionToken: "a!b'c(d)e*f g~h.i_j-k" }, now: new Date('2024-03-01T00:00:00Z') }, 'sts.us-east-2.amazonaws.com'],
  ['ap-southeast-2, a 100-character cluster name', { region: 'ap-southeast-2', clusterName: `a${'b-_9'.repeat(24)}xyz`, credentials: KEYS, now: new Date('2030-01-01T00:00:01Z') }, 'sts.ap-southeast-2.amazonaws.com'],
];

/** Deterministic pseudo-random inputs (a small LCG), so a failure is reproducible. */
function generatedRows(count: number): [string, PresignInput, string][] {
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = (alphabet: string, length: number) => Array.from({ length }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
  const regions = ['us-east-1', 'us-west-2', 'eu-central-1', 'ap-northeast-1', 'sa-east-1', 'me-south-1', 'il-central-1'];
  const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  return Array.from({ length: count }, (_, i) => {
    const region = regions[Math.floor(next() * regions.length)] as string;
    const credentials: AwsCredentials = {
      accessKeyId: `ASIA${pick('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`,
      secretAccessKey: pick(b64, 40),
      ...(next() < 0.8 ? { sessionToken: `${pick(b64, 300 + Math.floor(next() * 700))}==` } : {}),
    };
    const clusterName = pick('abcdefghijklmnopqrstuvwxyz0123456789', 1) + pick('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_', Math.floor(next() * 60));
    const now = new Date(Date.UTC(2020, 0, 1) + Math.floor(next() * 10 * 365 * 86_400_000));
    return [`generated #${i} (${region})`, { region, clusterName, credentials, now }, `sts.${region}.amazonaws.com`];
  });
}

describe('presignGetCallerIdentity', () => {
  it.each([...rows, ...generatedRows(40)])('matches @smithy/signature-v4 presign: %s', async (_name, input, host) => {
    const ours = presignGetCallerIdentity(input);
    const reference = await referenceUrl(input, host);
    expect(ours).toBe(reference.url);
    // Same parameters, none more, none fewer (independent of the serialisation above).
    expect(Object.fromEntries(new URL(ours).searchParams)).toEqual(reference.query);
  });

  it('signs what aws-iam-authenticator checks: host, Action, Version, x-k8s-aws-id, 60 s, the session token', () => {
    const url = new URL(presignGetCallerIdentity(rows[0]![1]));
    expect(url.origin + url.pathname).toBe('https://sts.us-east-1.amazonaws.com/');
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      Action: 'GetCallerIdentity',
      Version: '2011-06-15',
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'ASIAEXAMPLEEXAMPLE01/20240102/us-east-1/sts/aws4_request',
      'X-Amz-Date': '20240102T030405Z',
      'X-Amz-Expires': '60',
      'X-Amz-SignedHeaders': 'host;x-k8s-aws-id',
      'X-Amz-Security-Token': TEMPORARY.sessionToken,
    });
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(new URL(presignGetCallerIdentity(rows[1]![1])).searchParams.has('X-Amz-Security-Token')).toBe(false);
  });

  it('binds the token to the cluster: another cluster name, another signature', () => {
    const input = rows[0]![1];
    const signature = (clusterName: string) => new URL(presignGetCallerIdentity({ ...input, clusterName })).searchParams.get('X-Amz-Signature');
    expect(signature('prod')).not.toBe(signature('staging'));
  });

  it.each([
    ['an empty cluster name', { clusterName: '' }, /not an EKS cluster name/],
    ['a cluster name with a space', { clusterName: 'my cluster' }, /not an EKS cluster name/],
    ['a cluster name of 101 characters', { clusterName: 'a'.repeat(101) }, /not an EKS cluster name/],
    ['a region that is not one', { region: 'sts.evil.example/x' }, /not an AWS region/],
    ['an invalid date', { now: new Date(Number.NaN) }, /invalid signing date/],
  ])('refuses %s', (_name, override, message) => {
    expect(() => presignGetCallerIdentity({ ...rows[0]![1], ...override })).toThrow(message);
  });
});

describe('eksToken', () => {
  it.each(rows)('is k8s-aws-v1. + base64url without padding of the presigned URL: %s', (_name, input) => {
    const token = eksToken(input);
    expect(token.startsWith(TOKEN_PREFIX)).toBe(true);
    const encoded = token.slice(TOKEN_PREFIX.length);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/); // no '=', '+' or '/'
    expect(Buffer.from(encoded, 'base64url').toString('utf8')).toBe(presignGetCallerIdentity(input));
  });
});

describe('createEksTokenProvider', () => {
  const start = new Date('2024-05-01T10:00:00.250Z');
  function provider(clock: { now: Date }, credentials: () => AwsCredentials = () => TEMPORARY) {
    let reads = 0;
    const get = createEksTokenProvider({
      region: 'us-east-1',
      clusterName: 'prod',
      credentials: () => {
        reads += 1;
        return credentials();
      },
      now: () => clock.now,
    });
    return { get, reads: () => reads };
  }
  const amzDate = (token: string) =>
    new URL(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8')).searchParams.get('X-Amz-Date');

  it('reuses the token for 10 minutes after its X-Amz-Date, then generates a new one', () => {
    const clock = { now: start };
    const { get, reads } = provider(clock);
    const first = get();
    expect(amzDate(first)).toBe('20240501T100000Z');
    for (const later of [0, 1, 5 * 60_000, 10 * 60_000 - 251]) {
      clock.now = new Date(start.getTime() + later);
      expect(get()).toBe(first);
    }
    expect(reads()).toBe(1);
    // 10 minutes after the token's (whole-second) date, which is 250 ms before `start`.
    clock.now = new Date(start.getTime() + 10 * 60_000 - 250);
    const second = get();
    expect(second).not.toBe(first);
    expect(amzDate(second)).toBe('20240501T101000Z');
    expect(reads()).toBe(2);
    clock.now = new Date(clock.now.getTime() + 9 * 60_000);
    expect(get()).toBe(second);
  });

  it('asked for fresh (the API server answered 401): a new token now, read from the credentials again, and then cached', () => {
    const clock = { now: start };
    const { get, reads } = provider(clock);
    const first = get();
    clock.now = new Date(start.getTime() + 2_000);
    const fresh = get(true);
    expect(fresh).not.toBe(first);
    expect(amzDate(fresh)).toBe('20240501T100002Z');
    expect(reads()).toBe(2);
    clock.now = new Date(start.getTime() + 60_000);
    expect(get()).toBe(fresh);
  });

  it('generates a new token when the clock went back past the cached one', () => {
    const clock = { now: start };
    const { get } = provider(clock);
    const first = get();
    clock.now = new Date(start.getTime() - 60_000);
    expect(get()).not.toBe(first);
    expect(amzDate(get())).toBe('20240501T095900Z');
  });

  it('equals eksToken of the same inputs', () => {
    const { get } = provider({ now: start });
    expect(get()).toBe(eksToken({ region: 'us-east-1', clusterName: 'prod', credentials: TEMPORARY, now: start }));
  });

  it('fails clearly when the credentials are missing, naming the variables and not caching the failure', () => {
    let env: Record<string, string | undefined> = {};
    const { get } = provider({ now: start }, () => credentialsFromEnv(env));
    expect(() => get()).toThrow(AwsCredentialsError);
    expect(() => get()).toThrow('EKS authentication needs AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set');
    env = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: '' };
    expect(() => get()).toThrow(/: AWS_SECRET_ACCESS_KEY not set$/);
    env = { AWS_ACCESS_KEY_ID: KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: KEYS.secretAccessKey };
    expect(get().startsWith(TOKEN_PREFIX)).toBe(true);
  });

  it('presign refuses incomplete credentials with the same error type', () => {
    expect(() => presignGetCallerIdentity({ ...rows[0]![1], credentials: { accessKeyId: '', secretAccessKey: 'x' } })).toThrow(AwsCredentialsError);
  });
});

describe('credentialsFromEnv', () => {
  it.each([
    ['with a session token', { AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S', AWS_SESSION_TOKEN: 'T' }, { accessKeyId: 'A', secretAccessKey: 'S', sessionToken: 'T' }],
    ['without one', { AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S' }, { accessKeyId: 'A', secretAccessKey: 'S' }],
    ['with an empty one (unset)', { AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S', AWS_SESSION_TOKEN: '' }, { accessKeyId: 'A', secretAccessKey: 'S' }],
  ])('reads the Lambda role credentials %s', (_name, env, expected) => {
    expect(credentialsFromEnv(env)).toEqual(expected);
  });

  it('never puts a credential value in its error', () => {
    expect(() => credentialsFromEnv({ AWS_ACCESS_KEY_ID: 'AKID-VISIBLE?' })).toThrow(/^EKS authentication needs AWS credentials: AWS_SECRET_ACCESS_KEY not set$/);
  });
});

it('src/k8s/eks-token.ts imports nothing but node:crypto, the name patterns and the error types (no AWS SDK in the bundle)', () => {
  const source = readFileSync(join(import.meta.dirname, '..', '..', 'src', 'k8s', 'eks-token.ts'), 'utf8');
  const imports = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
  expect(imports).toEqual(['node:crypto', '../aws-names.ts', '../errors.ts']);
});
