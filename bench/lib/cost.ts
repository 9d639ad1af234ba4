/**
 * A cost MODEL, not a bill: measured invocations, billed durations and queue requests priced with public list prices.
 * Pure.
 *
 * Prices: us-east-1, on-demand, USD. Read from third-party summaries of the AWS pricing pages dated 2026 (the AWS pages
 * themselves were not reachable from here; verify before quoting):
 *   - Lambda arm64: $0.0000133334 per GB-s (first 7.5 billion GB-s a month), $0.20 per million requests
 *     (aws.amazon.com/lambda/pricing; cloudchipr.com and git.mcrn.ar summaries). Since 2025-08-01 the INIT phase of
 *     on-demand ZIP functions on managed runtimes is billed as duration too (AWS Compute Blog, "AWS Lambda standardizes
 *     billing for INIT phase").
 *   - SQS standard queue: $0.40 per million requests (first 100 billion a month; 1 million free), each started 64 KB of
 *     payload one request; empty receives count (aws.amazon.com/sqs/pricing; cloudburn.io, March 2026;
 *     factualminds.com, June 2026).
 *   - API Gateway HTTP API: $1.00 per million requests (first 300 million a month), metered in 512 KB increments
 *     (aws.amazon.com/api-gateway/pricing; apigatewaycost.com, go-cloud.io 2026).
 *   - Fargate Linux/ARM: $0.03238 per vCPU-hour, $0.00356 per GB-hour; smallest task 0.25 vCPU / 0.5 GB
 *     (aws.amazon.com/fargate/pricing; vantage.sh, cloudburn.io April 2026).
 *   - EC2 m7g.medium (1 vCPU, 4 GiB): $0.0408 per hour (aws.amazon.com/ec2/pricing/on-demand; recorded 2025, an
 *     assumption for 2026).
 * Free tiers are left out (they favour Lambda at small volumes).
 */
export const prices = {
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerRequest: 0.2 / 1e6,
  sqsStandardPerRequest: 0.4 / 1e6,
  apiGatewayHttpPerRequest: 1.0 / 1e6,
  fargateArmPerVcpuHour: 0.03238,
  fargateArmPerGbHour: 0.00356,
  ec2M7gMediumPerHour: 0.0408,
  hoursPerMonth: 730,
} as const;

/**
 * Assumptions that are not prices:
 *   - the SQS event source mapping keeps `idleSqsPollers` long polls (20 s each) open on an idle queue (AWS starts an
 *     SQS event source mapping with five pollers; every empty receive is a billed request);
 *   - the resync runs every 5 minutes (serverless.yml `rate(5 minutes)`);
 *   - the always-on controller is a pod of 0.1 vCPU / 128 MiB on a node the cluster runs anyway (priced as that share
 *     of an m7g.medium; 128 MiB is 1/32 of its memory, so CPU is the binding share), or the smallest Fargate task.
 */
export const assumptions = {
  idleSqsPollers: 5,
  sqsLongPollSeconds: 20,
  resyncIntervalMinutes: 5,
  podVcpu: 0.1,
} as const;

/** One function's share of an event: invocations and billed milliseconds per event, at its configured memory. */
export interface FunctionUse {
  invocations: number;
  billedMs: number;
  memoryMB: number;
}

/** What one event costs in resources, measured (per event: totals of a window divided by its events). */
export interface EventInputs {
  /** e.g. "warm node join, 4 DaemonSets". */
  label: string;
  /** How many events the figures are the mean of. */
  events: number;
  functions: Record<string, FunctionUse>;
  /** Billed SQS requests per event (sends, receives, deletes; 64 KB chunks). */
  sqsRequests: number;
  /** HTTP requests through API Gateway per event (the webhook deliveries). */
  apiGatewayRequests: number;
}

export interface CostInputs {
  /** Where the figures come from: the Lambda runtime (measured billed durations) or the local server (modelled). */
  source: string;
  events: EventInputs[];
  /**
   * Extra billed ms of a cold invocation (its runtime start and import) over a warm one, at which memory, and where the
   * figure comes from (e.g. "mean of 25 cold invocations of the run").
   */
  coldStart?: { extraBilledMs: number; memoryMB: number; basis?: string };
  /** One resync (measured), at the cluster size it was measured at. */
  resync?: { nodes: number; billedMs: number; memoryMB: number };
  /** The example cluster priced per month. */
  example: ExampleCluster;
}

export interface ExampleCluster {
  nodes: number;
  /** Node events a month (a join or a removal each), priced at the cost of `nodeEvent`. */
  nodeEventsPerMonth: number;
  /** The label of the event in `events` a node event is priced at. */
  nodeEvent: string;
  /** DaemonSet changes a month, priced at the cost of `changeEvent` (when measured). */
  daemonSetChangesPerMonth: number;
  changeEvent: string;
}

export interface EventCost {
  label: string;
  /** USD per million such events, by item, all invocations warm. */
  perMillion: { lambdaRequests: number; lambdaDuration: number; sqs: number; apiGateway: number; total: number };
  /** USD per million with every invocation cold (a quiet cluster: environments expire between events). */
  perMillionAllCold: number;
  invocationsPerEvent: number;
}

export interface CostModel {
  inputs: CostInputs;
  events: EventCost[];
  /** What runs whatever the events: the scheduled resync and the idle queue's long polls, USD per month. */
  fixedPerMonth: { resync: number; sqsIdlePolling: number; total: number };
  example: { nodeEvents: number; changes: number; fixed: number; total: number; totalAllCold: number };
  alwaysOn: { podShareOnNodePerMonth: number; fargateMinTaskPerMonth: number };
  /** Node events a month (warm, with the fixed costs) at which the functions cost as much as the always-on pod share. */
  breakEvenNodeEventsPerMonthVsPod: number;
}

const gbSeconds = (memoryMB: number, ms: number) => (memoryMB / 1024) * (ms / 1000);

export function eventCost(e: EventInputs, coldStart: CostInputs['coldStart']): EventCost {
  const uses = Object.values(e.functions);
  const invocations = uses.reduce((s, f) => s + f.invocations, 0);
  const lambdaRequests = 1e6 * invocations * prices.lambdaPerRequest;
  const lambdaDuration = 1e6 * uses.reduce((s, f) => s + gbSeconds(f.memoryMB, f.billedMs), 0) * prices.lambdaArmPerGbSecond;
  const sqs = 1e6 * e.sqsRequests * prices.sqsStandardPerRequest;
  const apiGateway = 1e6 * e.apiGatewayRequests * prices.apiGatewayHttpPerRequest;
  const total = lambdaRequests + lambdaDuration + sqs + apiGateway;
  const coldExtra = coldStart ? 1e6 * invocations * gbSeconds(coldStart.memoryMB, coldStart.extraBilledMs) * prices.lambdaArmPerGbSecond : 0;
  return { label: e.label, perMillion: { lambdaRequests, lambdaDuration, sqs, apiGateway, total }, perMillionAllCold: total + coldExtra, invocationsPerEvent: invocations };
}

export function costModel(inputs: CostInputs): CostModel {
  const events = inputs.events.map((e) => eventCost(e, inputs.coldStart));
  const monthMinutes = prices.hoursPerMonth * 60;
  const resyncs = monthMinutes / assumptions.resyncIntervalMinutes;
  const resync = inputs.resync
    ? resyncs * (prices.lambdaPerRequest + gbSeconds(inputs.resync.memoryMB, inputs.resync.billedMs) * prices.lambdaArmPerGbSecond)
    : 0;
  const idleReceives = assumptions.idleSqsPollers * (monthMinutes * 60) / assumptions.sqsLongPollSeconds;
  const sqsIdlePolling = idleReceives * prices.sqsStandardPerRequest;
  const fixed = resync + sqsIdlePolling;
  const perEvent = (label: string, cold = false) => {
    const e = events.find((x) => x.label === label);
    return e ? (cold ? e.perMillionAllCold : e.perMillion.total) / 1e6 : 0;
  };
  const ex = inputs.example;
  const nodeEvents = ex.nodeEventsPerMonth * perEvent(ex.nodeEvent);
  const changes = ex.daemonSetChangesPerMonth * perEvent(ex.changeEvent);
  const allCold = ex.nodeEventsPerMonth * perEvent(ex.nodeEvent, true) + ex.daemonSetChangesPerMonth * perEvent(ex.changeEvent, true);
  const fargateMinTaskPerMonth = (0.25 * prices.fargateArmPerVcpuHour + 0.5 * prices.fargateArmPerGbHour) * prices.hoursPerMonth;
  const podShareOnNodePerMonth = assumptions.podVcpu * prices.ec2M7gMediumPerHour * prices.hoursPerMonth;
  const join = perEvent(ex.nodeEvent);
  return {
    inputs,
    events,
    fixedPerMonth: { resync, sqsIdlePolling, total: fixed },
    example: { nodeEvents, changes, fixed, total: nodeEvents + changes + fixed, totalAllCold: allCold + fixed },
    alwaysOn: { podShareOnNodePerMonth, fargateMinTaskPerMonth },
    breakEvenNodeEventsPerMonthVsPod: join > 0 ? Math.max(0, podShareOnNodePerMonth - fixed) / join : Infinity,
  };
}
