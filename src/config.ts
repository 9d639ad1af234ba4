/**
 * All configuration, one schema, read once at the edge (functions/*, src/local/serve.ts). Nothing else reads
 * process.env.
 */
import * as z from './zod.ts';
import { AWS_REGION_PATTERN, EKS_CLUSTER_NAME_PATTERN } from './aws-names.ts';
import type { DaemonSetKind } from './core/model.ts';

const intFrom = (fallback: number, min = 0) => z._default(z.coerce.number().check(z.int(), z.minimum(min)), fallback);
/**
 * An optional setting where an empty value means unset: serverless.yml writes `''` for a variable it has no value for
 * (`${env:X, ''}`), and Lambda keeps it as an empty string.
 */
const unsetIfEmpty = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(
    z.transform((value: unknown) => (value === '' ? undefined : value)),
    z.optional(schema),
  );

/**
 * One or more secrets in one value, separated by commas or line feeds: while a secret is rotated, the old and the new
 * one are both accepted. Each at least 16 characters. Messages never contain the values.
 */
export const secretList = (setting: string, allowed: RegExp, allowedMessage: string) =>
  z.pipe(
    z.pipe(
      z.string(),
      z.transform((value: string) => value.split(/[,\n]/).map((s) => s.trim()).filter((s) => s !== '')),
    ),
    z
      .array(
        z.string().check(
          z.minLength(16, `${setting} must be at least 16 characters (each of them, when several)`),
          z.regex(allowed, `${setting}: ${allowedMessage}`),
        ),
      )
      .check(z.minLength(1, `${setting} holds no secret`)),
  );

/** What a bearer token may hold: the API server reads one up to the first space, and fetch cannot send a line break. */
export const TOKEN_PATTERN = /^[\x21-\x7e]+$/;
export const TOKEN_PATTERN_MESSAGE = 'a token is printable ASCII without spaces';

export const BearerTokensSchema = secretList('BEARER_TOKEN', TOKEN_PATTERN, TOKEN_PATTERN_MESSAGE);
export const AdmissionPathSecretsSchema = secretList(
  'ADMISSION_PATH_SECRET',
  /^[A-Za-z0-9._~-]+$/,
  'a path secret is letters, digits and . _ ~ - only (it is part of the webhook URL)',
);

/** An SSM parameter name (`/daemonless/prod/bearer-token`) or ARN. The value is read at cold start, never deployed. */
const ParameterNameSchema = z.string().check(z.maxLength(2048), z.regex(/^[A-Za-z0-9_.\-/:]+$/, 'not an SSM parameter name or ARN'));

export const ConfigSchema = z.object({
  /** Path of a kubeconfig. Unset: in-cluster config, or the Lambda's own credentials (see docs/deploy.md). */
  KUBECONFIG: z.optional(z.string().check(z.minLength(1))),
  /**
   * Alternative to KUBECONFIG for functions (Lambda has no kubeconfig file): the API server URL, its CA (base64 PEM,
   * as in a kubeconfig's certificate-authority-data) and either a bearer token (e.g. a ServiceAccount token bound to
   * the daemonless-reconciler ClusterRole) or EKS_CLUSTER_NAME. Tokens are never logged.
   */
  KUBE_SERVER: unsetIfEmpty(z.url({ protocol: /^https$/ })),
  KUBE_CA_DATA: unsetIfEmpty(
    z.string().check(
      // Node takes a CA it cannot read (PEM text given as is, base64 applied twice) as no CA, and every request fails.
      z.refine(
        (value: string) => Buffer.from(value, 'base64').toString('latin1').includes('-----BEGIN CERTIFICATE-----'),
        "not base64 of a PEM certificate (a kubeconfig's certificate-authority-data; EKS: certificateAuthority.data)",
      ),
    ),
  ),
  /** A static token in the environment: for local use. On Lambda name a parameter instead (KUBE_TOKEN_PARAMETER). */
  KUBE_TOKEN: unsetIfEmpty(z.string().check(z.regex(TOKEN_PATTERN, TOKEN_PATTERN_MESSAGE))),
  /**
   * Opt-in alternative to EKS IAM authentication on Lambda: the SSM parameter (SecureString) holding a static token,
   * read at cold start (src/secrets.ts). The default on Lambda is EKS_CLUSTER_NAME.
   */
  KUBE_TOKEN_PARAMETER: unsetIfEmpty(ParameterNameSchema),
  /**
   * EKS IAM authentication instead of KUBE_TOKEN: every API request carries a token presigned for this cluster with
   * the AWS credentials below (src/k8s/eks-token.ts). The identity is mapped to Kubernetes groups by an EKS access entry.
   */
  EKS_CLUSTER_NAME: unsetIfEmpty(z.string().check(z.regex(EKS_CLUSTER_NAME_PATTERN, 'not an EKS cluster name'))),
  /**
   * Set by Lambda: the function's region, whose STS endpoint the EKS token is presigned for (deploy the functions in the
   * cluster's region), and the credentials of its role. Read once: Lambda's do not change within an execution environment.
   */
  AWS_REGION: unsetIfEmpty(z.string()),
  AWS_ACCESS_KEY_ID: unsetIfEmpty(z.string()),
  AWS_SECRET_ACCESS_KEY: unsetIfEmpty(z.string()),
  AWS_SESSION_TOKEN: unsetIfEmpty(z.string()),
  /**
   * Set by Lambda: the function's own name (the direct path's admission function invokes itself asynchronously with
   * it). Its presence also means "on Lambda": INSECURE_NO_AUTH is refused there, and KUBE_SERVER or KUBECONFIG required.
   */
  AWS_LAMBDA_FUNCTION_NAME: unsetIfEmpty(z.string()),
  /** Local server port (npm start). */
  PORT: intFrom(8787, 1),
  HOST: z._default(z.string(), '127.0.0.1'),
  /** Local HTTPS listener for admission webhooks (the API server calls only https URLs); off unless both files are set. */
  HTTPS_PORT: intFrom(8788, 1),
  TLS_CERT_FILE: z.optional(z.string().check(z.minLength(1))),
  TLS_KEY_FILE: z.optional(z.string().check(z.minLength(1))),
  /**
   * The bearer token(s) every event route but admission requires (comma- or newline-separated for rotation); or, on
   * Lambda, BEARER_TOKEN_PARAMETER: the SSM parameter holding them, read at cold start. A route whose secret is
   * missing refuses to start (src/http/auth.ts). Never logged.
   */
  BEARER_TOKEN: unsetIfEmpty(BearerTokensSchema),
  BEARER_TOKEN_PARAMETER: unsetIfEmpty(ParameterNameSchema),
  /**
   * The admission route's secret path segment(s) (the API server cannot send credentials to a webhook, so the URL is
   * the secret): `/events/admission/<secret>`. Or ADMISSION_PATH_SECRET_PARAMETER, as above.
   */
  ADMISSION_PATH_SECRET: unsetIfEmpty(AdmissionPathSecretsSchema),
  ADMISSION_PATH_SECRET_PARAMETER: unsetIfEmpty(ParameterNameSchema),
  /**
   * `true`: routes without a secret accept anyone (logged as a warning at start). For local experiments only: refused
   * on Lambda. Routes that have a secret still require it.
   */
  INSECURE_NO_AUTH: z.pipe(
    unsetIfEmpty(z.enum(['true', 'false'])),
    z.transform((value: 'true' | 'false' | undefined) => value === 'true'),
  ),
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
   * Timeout of one API request, then retried. Every request daemonless makes is small (lists come in pages of 500) and
   * answers in well under a second on a healthy API server; one that hangs (a connection black-holed) holds its pass,
   * and under the pass lock every other pass, for this long (docs/reliability.md finding 17).
   */
  REQUEST_TIMEOUT_MS: intFrom(5_000, 500),
  /**
   * After a request of a pass failed (a timeout, a 5xx, a reset), no pod is created or deleted from reads older than
   * this: the pass hands its hints back to be handled on a fresh read (src/reconcile/deps.ts `viewIsFresh`).
   */
  STALE_VIEW_MS: intFrom(2_000, 100),
  /**
   * Hints touching more nodes than this are served from one cluster-wide read instead of per-node reads. Per-node reads
   * are small and indexed; one LIST of every pod of a 1,000-node cluster is not (measured: docs/benchmarks.md).
   */
  WIDE_READ_THRESHOLD: intFrom(64, 1),
  /**
   * After answering an admission request whose change a pass cannot recognise as stored (a pod's change, a DaemonSet's
   * labels or annotations), wait this long before reconciling. Node and DaemonSet changes are reconciled at once and
   * again until the pass sees them: ADMISSION_STORED_WITHIN_MS.
   */
  ADMISSION_SETTLE_MS: intFrom(300, 0),
  /**
   * An admitted node or DaemonSet change that a pass has not seen stored this long after the admission request is taken
   * as refused (another webhook denied it, a conflict); until then its hint is handed in again, a few ms later at
   * first, then less often (src/hints.ts `PendingChange`).
   */
  ADMISSION_STORED_WITHIN_MS: intFrom(3_000, 0),
  /**
   * Least time between two DaemonSet-wide follow-up passes (status, rollout steps) of one DaemonSet. A long-lived
   * server keeps it in memory; the queue runtime in a Lease per DaemonSet, rounded up to whole seconds (SQS delays).
   */
  FOLLOW_UP_INTERVAL_MS: intFrom(250, 0),
  /**
   * A long-lived server starts a follow-up this long after it is asked for, and drops it when a pass of the same
   * DaemonSet started meanwhile (src/follow-up.ts): after a join, the new pod's own events (bound, Ready) bring that pass.
   * The queue runtime delays a join's follow-up (Hint `after`) as much (rounded up to whole seconds, SQS's delays), and
   * that follow-up ends after reading the DaemonSet when its status shows a later pass counted the join.
   */
  FOLLOW_UP_DELAY_MS: intFrom(1000, 0),
  /**
   * The queue runtime (docs/adr/0003-queue.md): the SQS queue URL. Set: the intake functions enqueue hints and answer
   * at once, the `reconcile` function consumes them, follow-ups and re-queues are delayed messages. Unset: each
   * function reconciles inline (the direct path).
   */
  QUEUE_URL: unsetIfEmpty(z.url()),
  /**
   * The reconcile function takes up to this many messages already waiting in the queue into the pass of each batch it
   * is handed (src/queue/consumer.ts), so a backlog costs few passes; 0: each batch alone.
   */
  QUEUE_DRAIN_MAX: intFrom(100, 0),
  /**
   * The reconcile function's event source mapping batch size (serverless.yml `reconcileBatchSize`): a batch shorter
   * than this found the queue empty, and does not look for more (src/queue/consumer.ts).
   */
  QUEUE_BATCH_SIZE: intFrom(10, 1),
  /**
   * Reconciles at once in a long-lived server; deliveries arriving meanwhile are merged into the next one. At 1 every
   * pass reads after the previous one's writes, so no two passes race on a node (two passes that read different
   * templates, or one that saw a terminating pod and one that did not, each create a pod: the reliability trials found
   * such short-lived duplicates at 2). Raise it for throughput only where that trade is wanted. Beside these, one
   * pass that may write nothing but a status (a few pods turning Ready), for hints arriving while no other pass runs or
   * waits, so a node joining meanwhile does not wait for its recount (src/follow-up.ts `withCoalescing`).
   */
  MAX_CONCURRENT_RECONCILES: intFrom(1, 1),
  /**
   * One pass at a time across processes (a Lease in LEASE_NAMESPACE, two writes per pass: src/k8s/leases.ts
   * `PassLock`). `auto`: on Lambda, where the reconcile function's batches overlap, and in a local server whose
   * MAX_CONCURRENT_RECONCILES is above 1; off in a local server that already runs one pass at a time.
   */
  PASS_LOCK: z._default(z.enum(['auto', 'on', 'off']), 'auto'),
  /** How long a pass waits for the pass lock before handing its hints back (503, or re-sent to the queue). */
  PASS_LOCK_WAIT_MS: intFrom(3_000, 0),
  /** Period of the scheduled resync in a long-lived server (0: off). On Lambda the resync function's schedule. */
  RESYNC_INTERVAL_MS: intFrom(300_000, 0),
  /**
   * How a pass lists nodes and pods: `protobuf`, decoded straight into the fields the core reads (src/k8s/protobuf.ts;
   * cheaper for the API server and the function), or `json`, for a proxy in front of the API server that passes JSON
   * only. Everything else is JSON either way.
   */
  LIST_ENCODING: z._default(z.enum(['protobuf', 'json']), 'protobuf'),
  LOG_LEVEL: z._default(z.enum(['debug', 'info', 'warn', 'error']), 'info'),
  /**
   * What daemonless reconciles: `apps` (apps/v1 DaemonSets: clusters whose built-in DaemonSet controller is off),
   * `crd` (ServerlessDaemonSets, infra/crd-serverlessdaemonset.json: managed clusters such as EKS, where the built-in
   * controller keeps apps/v1 DaemonSets), or `both`.
   */
  MANAGE: z._default(z.enum(['apps', 'crd', 'both']), 'apps'),
  /**
   * The one namespace where daemonless keeps its own Leases (failed-pod backoffs, rollout locks, pass schedules): the
   * reconciler's Lease rights are granted there only (infra/rbac.yaml creates it).
   */
  LEASE_NAMESPACE: z._default(
    z.string().check(z.regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'not a namespace name'), z.maxLength(63)),
    'daemonless-system',
  ),
});

/** The DaemonSet kinds a MANAGE setting reconciles. */
export function managedKinds(manage: Config['MANAGE']): DaemonSetKind[] {
  return manage === 'apps' ? ['DaemonSet'] : manage === 'crd' ? ['ServerlessDaemonSet'] : ['DaemonSet', 'ServerlessDaemonSet'];
}

export type Config = z.infer<typeof ConfigSchema>;

/** Settings that only make sense together. */
const RefinedConfigSchema = ConfigSchema.check(z.superRefine((c: Config, ctx) => {
  const problem = (path: keyof Config, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (c.BEARER_TOKEN && c.BEARER_TOKEN_PARAMETER) problem('BEARER_TOKEN', 'set BEARER_TOKEN or BEARER_TOKEN_PARAMETER, not both');
  if (c.ADMISSION_PATH_SECRET && c.ADMISSION_PATH_SECRET_PARAMETER) {
    problem('ADMISSION_PATH_SECRET', 'set ADMISSION_PATH_SECRET or ADMISSION_PATH_SECRET_PARAMETER, not both');
  }
  if (c.INSECURE_NO_AUTH && c.AWS_LAMBDA_FUNCTION_NAME) {
    problem('INSECURE_NO_AUTH', 'is for local experiments and is refused on Lambda: configure the routes\' secrets');
  }
  const credentials = (['KUBE_TOKEN', 'KUBE_TOKEN_PARAMETER', 'EKS_CLUSTER_NAME'] as const).filter((key) => c[key]);
  if (credentials.length > 1) problem(credentials[0]!, `set one of ${credentials.join(', ')}, not several`);
  if (c.KUBE_SERVER && credentials.length === 0) {
    problem('KUBE_TOKEN', 'KUBE_SERVER needs EKS_CLUSTER_NAME (EKS IAM authentication), or KUBE_TOKEN_PARAMETER / KUBE_TOKEN');
  }
  if (c.KUBE_TOKEN_PARAMETER && !c.KUBE_SERVER) problem('KUBE_TOKEN_PARAMETER', 'needs KUBE_SERVER (the API server it is for)');
  // With a queue an intake function never calls the API server (serverless.yml gives the cluster settings to reconcile
  // and resync only); those two check it when they wire the cluster (clusterAccessProblem, src/wiring.ts).
  if (!c.QUEUE_URL) {
    const missing = clusterAccessProblem(c);
    if (missing !== null) problem('KUBE_SERVER', missing);
  }
  if (!c.EKS_CLUSTER_NAME) return;
  if (!c.KUBE_SERVER) problem('KUBE_SERVER', 'EKS_CLUSTER_NAME needs KUBE_SERVER (the cluster endpoint)');
  // EKS serves its endpoint with a certificate of the cluster's own CA, which no system trust store has.
  if (!c.KUBE_CA_DATA) problem('KUBE_CA_DATA', 'EKS_CLUSTER_NAME needs KUBE_CA_DATA (the cluster CA)');
  if (!c.AWS_REGION) problem('AWS_REGION', 'EKS_CLUSTER_NAME needs AWS_REGION');
  // Checked only here: without EKS_CLUSTER_NAME the region is not ours to judge (local emulators set odd ones).
  else if (!AWS_REGION_PATTERN.test(c.AWS_REGION)) problem('AWS_REGION', 'not an AWS region');
  if (!c.AWS_ACCESS_KEY_ID) problem('AWS_ACCESS_KEY_ID', 'EKS_CLUSTER_NAME needs AWS credentials in the environment');
  if (!c.AWS_SECRET_ACCESS_KEY) problem('AWS_SECRET_ACCESS_KEY', 'EKS_CLUSTER_NAME needs AWS credentials in the environment');
}));

/**
 * Lambda has no kubeconfig and no in-cluster configuration: a function that calls the API server without these would
 * fail obscurely at its first request. Null when the function can reach the cluster (or does not run on Lambda).
 */
export function clusterAccessProblem(c: Config): string | null {
  if (!c.AWS_LAMBDA_FUNCTION_NAME || c.KUBE_SERVER || c.KUBECONFIG) return null;
  return 'required on Lambda: the cluster endpoint, with EKS_CLUSTER_NAME (the default) or KUBE_TOKEN_PARAMETER';
}

/** Throws, as loadConfig does, when a function that calls the API server has no way to reach it. */
export function requireClusterAccess(c: Config): void {
  const missing = clusterAccessProblem(c);
  if (missing !== null) throw new Error(`invalid configuration: KUBE_SERVER: ${missing}`);
}

/** Parses an environment (process.env at the edge, a literal in tests). Throws a readable error naming each field. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const result = RefinedConfigSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${problems}`);
  }
  return result.data;
}
