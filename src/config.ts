/**
 * All configuration, one schema, read once at the edge (functions/*, src/local/serve.ts). Nothing else reads
 * process.env.
 */
import * as z from 'zod';

const intFrom = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

export const ConfigSchema = z.object({
  /** Path of a kubeconfig. Unset: in-cluster config, or the Lambda's own credentials (see docs/deploy.md). */
  KUBECONFIG: z.string().min(1).optional(),
  /**
   * Alternative to KUBECONFIG for functions (Lambda has no kubeconfig file): the API server URL, its CA (base64 PEM,
   * as in a kubeconfig's certificate-authority-data) and a bearer token (e.g. a ServiceAccount token bound to the
   * daemonless-reconciler ClusterRole). The token is never logged.
   */
  KUBE_SERVER: z.url({ protocol: /^https$/ }).optional(),
  KUBE_CA_DATA: z.string().min(1).optional(),
  KUBE_TOKEN: z.string().min(1).optional(),
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
  /** Writes in flight at once per invocation. */
  WRITE_CONCURRENCY: intFrom(32, 1),
  /** Time budget of one invocation; retries stop before it runs out, and the request answers 503. */
  TIME_BUDGET_MS: intFrom(25_000, 1000),
  /** Hints touching more nodes than this are served from one cluster-wide read instead of per-node reads. */
  WIDE_READ_THRESHOLD: intFrom(8, 1),
  /** After answering an admission request, wait this long for the change to be persisted before reconciling. */
  ADMISSION_SETTLE_MS: intFrom(300, 0),
  /** Least time between two DaemonSet-wide follow-up passes (status, rollout steps) of one DaemonSet, long-lived server. */
  FOLLOW_UP_INTERVAL_MS: intFrom(250, 0),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export type Config = z.infer<typeof ConfigSchema>;

const RefinedConfigSchema = ConfigSchema.refine((c) => !c.KUBE_SERVER || c.KUBE_TOKEN, {
  message: 'KUBE_SERVER needs KUBE_TOKEN',
  path: ['KUBE_TOKEN'],
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
