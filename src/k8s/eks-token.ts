/**
 * EKS IAM authentication without the AWS SDK or CLI: the bearer token of aws-iam-authenticator (`aws eks get-token`),
 * built from the Lambda role's credentials with node:crypto only.
 *
 * The token is `k8s-aws-v1.` + base64url (no padding) of a SigV4-presigned
 * `GET https://sts.<region>.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15` whose signed headers include
 * `x-k8s-aws-id: <cluster name>`. EKS replays the URL against STS to learn the caller's ARN; the signed header binds the
 * token to one cluster. It is accepted for 15 minutes after X-Amz-Date (X-Amz-Expires=60 is ignored by EKS), so the
 * provider regenerates it after 10. Generating it makes no network call.
 *
 * Verified against @smithy/signature-v4's `presign` (test/k8s/eks-token.test.ts), not against a live EKS cluster.
 * The token is a credential: never log it, nor the URL.
 */
import { createHash, createHmac } from 'node:crypto';
import { AWS_REGION_PATTERN, EKS_CLUSTER_NAME_PATTERN } from '../aws-names.ts';
import { DaemonlessError } from '../errors.ts';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials (a Lambda role's always are) come with a session token. */
  sessionToken?: string;
}

export interface PresignInput {
  region: string;
  clusterName: string;
  credentials: AwsCredentials;
  now: Date;
}

/** No usable AWS credentials: a deployment problem, not a transient one. Names the variables, never their values. */
export class AwsCredentialsError extends DaemonlessError {
  override name = 'AwsCredentialsError';
}

export const TOKEN_PREFIX = 'k8s-aws-v1.';
/** EKS accepts a token for 15 minutes after X-Amz-Date; regenerating after 10 leaves room for clock skew and retries. */
export const TOKEN_REFRESH_MS = 10 * 60_000;

const ALGORITHM = 'AWS4-HMAC-SHA256';
const SERVICE = 'sts';
const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** SHA-256 of the empty body: a presigned GET signs it like any other request (not UNSIGNED-PAYLOAD). */
const EMPTY_PAYLOAD_HASH = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * The regional STS host. The China regions are in the aws-cn partition, whose endpoints end in `.amazonaws.com.cn`;
 * other partitions with their own suffixes (ISO) are not supported.
 */
export function stsHost(region: string): string {
  return `sts.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/** The presigned GetCallerIdentity URL, signed for `clusterName` at `now`. Pure: same inputs, same URL. */
export function presignGetCallerIdentity({ region, clusterName, credentials, now }: PresignInput): string {
  if (!AWS_REGION_PATTERN.test(region)) throw new TypeError(`not an AWS region: ${JSON.stringify(region)}`);
  if (!EKS_CLUSTER_NAME_PATTERN.test(clusterName)) throw new TypeError(`not an EKS cluster name: ${JSON.stringify(clusterName)}`);
  if (!credentials.accessKeyId || !credentials.secretAccessKey) throw new AwsCredentialsError('AWS credentials are incomplete');
  if (Number.isNaN(now.getTime())) throw new TypeError('invalid signing date');

  const host = stsHost(region);
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''); // 20240102T030405Z
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${region}/${SERVICE}/aws4_request`;
  const signedHeaders = `host;${CLUSTER_ID_HEADER}`;

  const query: [string, string][] = [
    ['Action', 'GetCallerIdentity'],
    ['Version', '2011-06-15'],
    ['X-Amz-Algorithm', ALGORITHM],
    ['X-Amz-Credential', `${credentials.accessKeyId}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', '60'],
    ['X-Amz-SignedHeaders', signedHeaders],
  ];
  // The session token is part of the signed query (STS checks it with the signature).
  if (credentials.sessionToken) query.push(['X-Amz-Security-Token', credentials.sessionToken]);
  const canonicalQuery = query
    .map(([key, value]) => [uriEncode(key), uriEncode(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');

  const canonicalRequest = [
    'GET',
    '/',
    canonicalQuery,
    // Canonical headers: lowercased names in sorted order, each line ending in \n, then the signed header list.
    `host:${host}\n${CLUSTER_ID_HEADER}:${clusterName}\n`,
    signedHeaders,
    EMPTY_PAYLOAD_HASH,
  ].join('\n');
  const stringToSign = [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');

  const dateKey = hmac(`AWS4${credentials.secretAccessKey}`, date);
  const signingKey = hmac(hmac(hmac(dateKey, region), SERVICE), 'aws4_request');
  const signature = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');

  return `https://${host}/?${canonicalQuery}&X-Amz-Signature=${signature}`;
}

/** The bearer token EKS accepts: `k8s-aws-v1.` + base64url of the presigned URL, without padding. */
export function eksToken(input: PresignInput): string {
  return TOKEN_PREFIX + Buffer.from(presignGetCallerIdentity(input), 'utf8').toString('base64url');
}

/**
 * Credentials from the environment, as a Lambda function gets its role's: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN. Empty values count as unset.
 */
export function credentialsFromEnv(env: {
  AWS_ACCESS_KEY_ID?: string | undefined;
  AWS_SECRET_ACCESS_KEY?: string | undefined;
  AWS_SESSION_TOKEN?: string | undefined;
}): AwsCredentials {
  const missing = (['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const).filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new AwsCredentialsError(`EKS authentication needs AWS credentials: ${missing.join(' and ')} not set`);
  }
  return {
    accessKeyId: env.AWS_ACCESS_KEY_ID as string,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string,
    ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
  };
}

export interface EksTokenProviderOptions {
  region: string;
  clusterName: string;
  /** Read when a token is generated, so rotated credentials are picked up at the next regeneration. */
  credentials: () => AwsCredentials;
  now: () => Date;
  /** Age after which a new token is generated; default 10 minutes (EKS accepts one for 15). */
  refreshAfterMs?: number;
}

/**
 * A token per call, regenerated once the cached one is `refreshAfterMs` old (or the clock went back past its date), or
 * when asked for `fresh` (the API server answered 401 to the cached one: the transport asks once, src/k8s/transport.ts).
 * A fresh token reads `credentials` again.
 * Synchronous and cheap: a few HMACs every 10 minutes.
 */
export function createEksTokenProvider(options: EksTokenProviderOptions): (fresh?: boolean) => string {
  const refreshAfterMs = options.refreshAfterMs ?? TOKEN_REFRESH_MS;
  let cached: { token: string; issuedAt: number } | undefined;
  return (fresh = false) => {
    const now = options.now();
    const age = cached === undefined ? Infinity : now.getTime() - cached.issuedAt;
    if (cached === undefined || fresh || age < 0 || age >= refreshAfterMs) {
      const token = eksToken({ region: options.region, clusterName: options.clusterName, credentials: options.credentials(), now });
      // X-Amz-Date has whole seconds: the age is counted from the date in the token, not from `now`.
      cached = { token, issuedAt: Math.floor(now.getTime() / 1000) * 1000 };
    }
    return cached.token;
  };
}

/** RFC 3986 unreserved characters stay, everything else is %XX (uppercase), as SigV4 requires. */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

function hmac(key: string | Buffer, value: string): Buffer {
  return createHmac('sha256', key).update(value, 'utf8').digest();
}
