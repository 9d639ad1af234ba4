/**
 * All configuration, one schema, read once at the edge (functions/*, src/local/serve.ts). Nothing else reads
 * process.env.
 */
import * as z from 'zod';
import { AWS_REGION_PATTERN, EKS_CLUSTER_NAME_PATTERN } from './k8s/eks-token.ts';

const intFrom = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);
/**
 * An optional setting where an empty value means unset: serverless.yml writes `''` for a variable it has no value for
 * (`${env:X, ''}`), and Lambda keeps it as an empty string.
 */
const unsetIfEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

export const ConfigSchema = z.object({
  /** Path of a kubeconfig. Unset: in-cluster config, or the Lambda's own credentials (see docs/deploy.md). */
  KUBECONFIG: z.string().min(1).optional(),
  /**
   * Alternative to KUBECONFIG for functions (Lambda has no kubeconfig file): the API server URL, its CA (base64 PEM,
   * as in a kubeconfig's certificate-authority-data) and either a bearer token (e.g. a ServiceAccount token bound to
   * the daemonless-reconciler ClusterRole) or EKS_CLUSTER_NAME. Tokens are never logged.
   */
  KUBE_SERVER: unsetIfEmpty(z.url({ protocol: /^https$/ })),
  KUBE_CA_DATA: unsetIfEmpty(z.string().min(1)),
  KUBE_TOKEN: unsetIfEmpty(z.string().min(1)),
  /**
   * EKS IAM authentication instead of KUBE_TOKEN: every API request carries a token presigned for this cluster with
   * the AWS credentials below (src/k8s/eks-token.ts). The identity is mapped to Kubernetes groups by an EKS access entry.
   */
  EKS_CLUSTER_NAME: unsetIfEmpty(z.string().regex(EKS_CLUSTER_NAME_PATTERN, 'not an EKS cluster name')),
  /**
   * Set by Lambda: the function's region, whose STS endpoint the EKS token is presigned for (deploy the functions in the
   * cluster's region), and the credentials of its role. Read once: Lambda's do not change within an execution environment.
   */
  AWS_REGION: unsetIfEmpty(z.string()),
  AWS_ACCESS_KEY_ID: unsetIfEmpty(z.string()),
  AWS_SECRET_ACCESS_KEY: unsetIfEmpty(z.string()),
  AWS_SESSION_TOKEN: unsetIfEmpty(z.string()),
  /** Local server port (npm start). */
  PORT: intFrom(8787, 1),
  HOST: z.string().default('127.0.0.1'),
  /** Local HTTPS listener for admission webhooks (the API server calls only https URLs); off unless both files are set. */
  HTTPS_PORT: intFrom(8788, 1),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  /** Optional shared bearer token every event route requires. Never logged. */
  BEARER_TOKEN: z.string().min(16, 'BEARER_TOKEN must be at least 16 characters').optional(),
  /** Optional secret path segment for the admission route (the API server cannot send credentials to webhooks). */
  ADMISSION_PATH_SECRET: z.string().min(16).optional(),
  /** Largest request body accepted, in bytes; larger bodies get 413. */
  BODY_LIMIT_BYTES: intFrom(6 * 1024 * 1024, 1024),
  /**
   * Bounds checked before a JSON body is parsed (src/http/json-guard.ts): deeper nesting gets 400, more values (objects,
   * arrays, strings, numbers, literals; keys count) or more lines get 413. Kubernetes JSON has ~10 bytes per value, so
   * a 6 MiB body of real objects has ~600,000; the default keeps the worst 6 MiB body inside a 256 MB function
   * (measured: docs/deploy.md, "Bounded input"). Raise both with the memory size.
   */
  JSON_MAX_DEPTH: intFrom(100, 1),
  JSON_MAX_TOKENS: intFrom(1_000_000, 1),
  /** Writes in flight at once per invocation. */
  WRITE_CONCURRENCY: intFrom(32, 1),
  /** Time budget of one invocation; retries stop before it runs out, and the request answers 503. */
  TIME_BUDGET_MS: intFrom(25_000, 1000),
  /**
   * Hints touching more nodes than this are served from one cluster-wide read instead of per-node reads. Per-node reads
   * are small and indexed; one LIST of every pod of a 1,000-node cluster is not (measured: docs/benchmarks.md).
   */
  WIDE_READ_THRESHOLD: intFrom(64, 1),
  /** After answering an admission request, wait this long for the change to be persisted before reconciling. */
  ADMISSION_SETTLE_MS: intFrom(300, 0),
  /** Least time between two DaemonSet-wide follow-up passes (status, rollout steps) of one DaemonSet, long-lived server. */
  FOLLOW_UP_INTERVAL_MS: intFrom(250, 0),
  /** Reconciles at once in a long-lived server; deliveries arriving meanwhile are merged into the next one. */
  MAX_CONCURRENT_RECONCILES: intFrom(2, 1),
  /** Period of the scheduled resync in a long-lived server (0: off). On Lambda the resync function's schedule. */
  RESYNC_INTERVAL_MS: intFrom(300_000, 0),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export type Config = z.infer<typeof ConfigSchema>;

/** Settings that only make sense together. */
const RefinedConfigSchema = ConfigSchema.superRefine((c, ctx) => {
  const problem = (path: keyof Config, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (c.KUBE_SERVER && !c.KUBE_TOKEN && !c.EKS_CLUSTER_NAME) problem('KUBE_TOKEN', 'KUBE_SERVER needs KUBE_TOKEN or EKS_CLUSTER_NAME');
  if (!c.EKS_CLUSTER_NAME) return;
  if (c.KUBE_TOKEN) problem('KUBE_TOKEN', 'set KUBE_TOKEN or EKS_CLUSTER_NAME, not both');
  if (!c.KUBE_SERVER) problem('KUBE_SERVER', 'EKS_CLUSTER_NAME needs KUBE_SERVER (the cluster endpoint)');
  // EKS serves its endpoint with a certificate of the cluster's own CA, which no system trust store has.
  if (!c.KUBE_CA_DATA) problem('KUBE_CA_DATA', 'EKS_CLUSTER_NAME needs KUBE_CA_DATA (the cluster CA)');
  if (!c.AWS_REGION) problem('AWS_REGION', 'EKS_CLUSTER_NAME needs AWS_REGION');
  // Checked only here: without EKS_CLUSTER_NAME the region is not ours to judge (local emulators set odd ones).
  else if (!AWS_REGION_PATTERN.test(c.AWS_REGION)) problem('AWS_REGION', 'not an AWS region');
  if (!c.AWS_ACCESS_KEY_ID) problem('AWS_ACCESS_KEY_ID', 'EKS_CLUSTER_NAME needs AWS credentials in the environment');
  if (!c.AWS_SECRET_ACCESS_KEY) problem('AWS_SECRET_ACCESS_KEY', 'EKS_CLUSTER_NAME needs AWS credentials in the environment');
});

/** Parses an environment (process.env at the edge, a literal in tests). Throws a readable error naming each field. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const result = RefinedConfigSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${problems}`);
  }
  return result.data;
}
