import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { TOKEN_PREFIX } from '../src/k8s/eks-token.ts';
import { eksBearerToken, loadKubeConfig } from '../src/k8s/kubeconfig.ts';

/** A cluster CA as a kubeconfig's certificate-authority-data and EKS's certificateAuthority.data give it: base64 of PEM. */
const caData = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIU\n-----END CERTIFICATE-----\n').toString('base64');

/** What a Lambda function on EKS has: its region and role credentials (set by Lambda), the cluster from describe-cluster. */
const eks = {
  EKS_CLUSTER_NAME: 'prod',
  KUBE_SERVER: 'https://ABCDEF0123456789.gr7.us-east-1.eks.amazonaws.com',
  KUBE_CA_DATA: caData,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'secret-example',
  AWS_SESSION_TOKEN: 'session-example',
};

describe('configuration', () => {
  it('has defaults for everything optional', () => {
    expect(loadConfig({})).toMatchObject({ PORT: 8787, HTTPS_PORT: 8788, WRITE_CONCURRENCY: 32, WIDE_READ_THRESHOLD: 64, FOLLOW_UP_INTERVAL_MS: 250, REQUEST_TIMEOUT_MS: 5000, STALE_VIEW_MS: 2000 });
  });

  it.each([
    ['a port that is not a number', { PORT: 'eighty' }, /PORT: Invalid input: expected number, received NaN/],
    ['a short bearer token', { BEARER_TOKEN: 'short' }, /BEARER_TOKEN must be at least 16 characters/],
    ['an API server over plain http', { KUBE_SERVER: 'http://10.0.0.1', KUBE_TOKEN: 't' }, /KUBE_SERVER/],
    ['a server without a credential', { KUBE_SERVER: 'https://10.0.0.1' }, /KUBE_TOKEN: KUBE_SERVER needs EKS_CLUSTER_NAME \(EKS IAM authentication\), or KUBE_TOKEN_PARAMETER \/ KUBE_TOKEN/],
    // serverless.yml writes '' for a value it has none for.
    ['a server with an empty token', { KUBE_SERVER: 'https://10.0.0.1', KUBE_TOKEN: '' }, /KUBE_TOKEN: KUBE_SERVER needs EKS_CLUSTER_NAME/],
    // A wrapped or pasted token: refused at start, not at the first API request.
    ['a static token with a line break inside', { KUBE_SERVER: 'https://10.0.0.1', KUBE_TOKEN: 'eyJhbGciOi\nJSUzI1NiJ9' }, /KUBE_TOKEN: a token is printable ASCII without spaces/],
    ['a token parameter without a server', { KUBE_TOKEN_PARAMETER: '/daemonless/dev/kube-token' }, /KUBE_TOKEN_PARAMETER: needs KUBE_SERVER/],
    ['a token parameter and a token at once', { KUBE_SERVER: 'https://10.0.0.1', KUBE_TOKEN: 't', KUBE_TOKEN_PARAMETER: '/p' }, /KUBE_TOKEN: set one of KUBE_TOKEN, KUBE_TOKEN_PARAMETER, not several/],
    ['EKS and a token parameter at once', { ...eks, KUBE_TOKEN_PARAMETER: '/p' }, /KUBE_TOKEN_PARAMETER: set one of KUBE_TOKEN_PARAMETER, EKS_CLUSTER_NAME, not several/],
    ['a parameter name with a space', { BEARER_TOKEN_PARAMETER: '/daemonless/my token' }, /BEARER_TOKEN_PARAMETER: not an SSM parameter name or ARN/],
    ['a bearer token and its parameter at once', { BEARER_TOKEN: 'a'.repeat(16), BEARER_TOKEN_PARAMETER: '/p' }, /BEARER_TOKEN: set BEARER_TOKEN or BEARER_TOKEN_PARAMETER, not both/],
    ['a path secret and its parameter at once', { ADMISSION_PATH_SECRET: 'a'.repeat(16), ADMISSION_PATH_SECRET_PARAMETER: '/p' }, /ADMISSION_PATH_SECRET: set ADMISSION_PATH_SECRET or ADMISSION_PATH_SECRET_PARAMETER, not both/],
    ['one short token among several', { BEARER_TOKEN: `${'a'.repeat(16)},short` }, /BEARER_TOKEN must be at least 16 characters \(each of them, when several\)/],
    ['a path secret that is no URL path segment', { ADMISSION_PATH_SECRET: 'a/b?c=0123456789abcdef' }, /ADMISSION_PATH_SECRET: a path secret is letters, digits and/],
    ['a bearer token with a space', { BEARER_TOKEN: '0123456789 abcdef' }, /a token is printable ASCII without spaces/],
    ['INSECURE_NO_AUTH on Lambda', { INSECURE_NO_AUTH: 'true', AWS_LAMBDA_FUNCTION_NAME: 'daemonless-dev-watch' }, /INSECURE_NO_AUTH: is for local experiments and is refused on Lambda/],
    ['INSECURE_NO_AUTH other than true/false', { INSECURE_NO_AUTH: 'yes' }, /INSECURE_NO_AUTH/],
    // What serverless.yml deploys when no cluster was given: '' for each.
    ['a Lambda function without a cluster', { AWS_LAMBDA_FUNCTION_NAME: 'daemonless-dev-watch', KUBE_SERVER: '', EKS_CLUSTER_NAME: '' }, /KUBE_SERVER: required on Lambda/],
    ['EKS without the cluster endpoint', { ...eks, KUBE_SERVER: '' }, /KUBE_SERVER: EKS_CLUSTER_NAME needs KUBE_SERVER/],
    // EKS serves a certificate of the cluster's own CA.
    ['EKS without the cluster CA', { ...eks, KUBE_CA_DATA: undefined }, /KUBE_CA_DATA: EKS_CLUSTER_NAME needs KUBE_CA_DATA/],
    // Node takes a CA it cannot read as no CA at all: every request would fail its TLS handshake, mid-pass.
    ['a CA given as PEM text, not base64', { ...eks, KUBE_CA_DATA: '-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIU\n-----END CERTIFICATE-----\n' }, /KUBE_CA_DATA: not base64 of a PEM certificate/],
    ['a CA base64-encoded twice', { ...eks, KUBE_CA_DATA: Buffer.from(caData).toString('base64') }, /KUBE_CA_DATA: not base64 of a PEM certificate/],
    ['EKS without a region', { ...eks, AWS_REGION: undefined }, /AWS_REGION: EKS_CLUSTER_NAME needs AWS_REGION/],
    ['EKS without AWS credentials', { ...eks, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: '' }, /AWS_ACCESS_KEY_ID: .*; AWS_SECRET_ACCESS_KEY: EKS_CLUSTER_NAME needs AWS credentials/],
    ['EKS and a static token at once', { ...eks, KUBE_TOKEN: 't' }, /KUBE_TOKEN: set one of KUBE_TOKEN, EKS_CLUSTER_NAME, not several/],
    ['a cluster name EKS would not accept', { ...eks, EKS_CLUSTER_NAME: 'my cluster' }, /EKS_CLUSTER_NAME: not an EKS cluster name/],
    ['a region that is not one', { ...eks, AWS_REGION: 'evil.example/x' }, /AWS_REGION: not an AWS region/],
    ['an unknown log level', { LOG_LEVEL: 'chatty' }, /LOG_LEVEL: Invalid option: expected one of "debug"\|"info"\|"warn"\|"error"/],
    ['a queue URL that is none', { QUEUE_URL: 'sqs-hints' }, /QUEUE_URL: Invalid URL/],
  ])('refuses %s, naming the field', (_name, env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('the refusals never repeat a secret value', () => {
    const value = 'sekrit-sekrit-sekrit short';
    for (const env of [{ BEARER_TOKEN: value }, { ADMISSION_PATH_SECRET: value }, { BEARER_TOKEN: `${value},x` }]) {
      expect(() => loadConfig(env)).toThrow(/invalid configuration/);
      expect(() => loadConfig(env)).not.toThrow(/sekrit/);
    }
  });

  it.each([
    ['one token', 'token-0123456789abcdef', ['token-0123456789abcdef']],
    ['two, for rotation, comma-separated', 'old-token-0123456789, new-token-0123456789', ['old-token-0123456789', 'new-token-0123456789']],
    ['two, newline-separated, blank lines ignored', 'old-token-0123456789\n\nnew-token-0123456789\n', ['old-token-0123456789', 'new-token-0123456789']],
  ])('BEARER_TOKEN: %s', (_name, value, tokens) => {
    expect(loadConfig({ BEARER_TOKEN: value }).BEARER_TOKEN).toEqual(tokens);
  });

  it('INSECURE_NO_AUTH is off unless set to true', () => {
    expect(loadConfig({}).INSECURE_NO_AUTH).toBe(false);
    expect(loadConfig({ INSECURE_NO_AUTH: '' }).INSECURE_NO_AUTH).toBe(false);
    expect(loadConfig({ INSECURE_NO_AUTH: 'true' }).INSECURE_NO_AUTH).toBe(true);
  });

  it('KUBE_SERVER + KUBE_TOKEN_PARAMETER: the token is read at cold start (src/secrets.ts), not here', () => {
    const config = loadConfig({ KUBE_SERVER: 'https://api.example:6443', KUBE_TOKEN_PARAMETER: '/daemonless/dev/kube-token' });
    expect(config.KUBE_TOKEN_PARAMETER).toBe('/daemonless/dev/kube-token');
    expect(config.KUBE_TOKEN).toBeUndefined();
  });

  it('KUBE_SERVER + KUBE_TOKEN build the client configuration without a kubeconfig file', () => {
    const config = loadConfig({ KUBE_SERVER: 'https://api.example:6443', KUBE_CA_DATA: caData, KUBE_TOKEN: 'secret-token' });
    const kc = loadKubeConfig(config);
    expect(kc.getCurrentCluster()).toMatchObject({ server: 'https://api.example:6443', caData });
    expect(kc.getCurrentUser()).toMatchObject({ token: 'secret-token' });
  });
  it.each([
    ['EKS_CLUSTER_NAME', { KUBE_SERVER: 'https://api.example:6443', KUBE_TOKEN: 't', EKS_CLUSTER_NAME: '' }, 'EKS_CLUSTER_NAME'],
    ['KUBE_TOKEN', { ...eks, KUBE_TOKEN: '' }, 'KUBE_TOKEN'],
    ['AWS_SESSION_TOKEN', { ...eks, AWS_SESSION_TOKEN: '' }, 'AWS_SESSION_TOKEN'],
  ] as const)('treats an empty %s as unset (serverless.yml writes \'\' for a missing value)', (_name, env, key) => {
    expect(loadConfig(env)[key]).toBeUndefined();
  });

  it('EKS_CLUSTER_NAME builds a cluster and a user without credentials, and a bearer token presigned for the cluster', () => {
    const config = loadConfig(eks);
    const kc = loadKubeConfig(config);
    expect(kc.getCurrentCluster()).toMatchObject({ server: eks.KUBE_SERVER, caData, skipTLSVerify: false });
    expect(kc.getCurrentUser()).toEqual({ name: 'daemonless' });

    const token = eksBearerToken(config, () => new Date('2024-01-02T03:04:05Z'))?.();
    expect(token?.startsWith(TOKEN_PREFIX)).toBe(true);
    const url = new URL(Buffer.from(token!.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8'));
    expect(url.host).toBe('sts.us-east-1.amazonaws.com');
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      'X-Amz-Credential': 'ASIAEXAMPLE/20240102/us-east-1/sts/aws4_request',
      'X-Amz-Security-Token': 'session-example',
      'X-Amz-SignedHeaders': 'host;x-k8s-aws-id',
    });
  });

  it('without EKS_CLUSTER_NAME there is no EKS token, and the AWS settings are not judged', () => {
    // A local AWS emulator's region is none of our business when EKS authentication is off.
    const config = loadConfig({ KUBE_SERVER: 'https://api.example:6443', KUBE_TOKEN: 't', AWS_REGION: 'local' });
    expect(eksBearerToken(config)).toBeUndefined();
  });
});
