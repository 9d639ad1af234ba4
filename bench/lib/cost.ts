/**
 * A cost MODEL, not a bill: measured invocations and durations priced with public list prices. Pure.
 *
 * Prices: us-east-1, on-demand, as listed on the AWS pricing pages in 2025 (recorded 2025; verify before quoting):
 *   - Lambda arm64 duration, first tier: $0.0000133334 per GB-s; requests: $0.20 per million
 *     (aws.amazon.com/lambda/pricing). Since 2025-08-01 the INIT phase (cold start) of managed runtimes is billed as
 *     duration too.
 *   - API Gateway HTTP API: $1.00 per million requests, first 300 million (aws.amazon.com/api-gateway/pricing).
 *   - Fargate Linux/ARM: $0.03238 per vCPU-hour, $0.00356 per GB-hour; smallest task 0.25 vCPU / 0.5 GB
 *     (aws.amazon.com/fargate/pricing).
 *   - EC2 m7g.medium (1 vCPU, 4 GiB): $0.0408 per hour (aws.amazon.com/ec2/pricing/on-demand).
 */
export const prices = {
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerRequest: 0.2 / 1e6,
  apiGatewayHttpPerRequest: 1.0 / 1e6,
  fargateArmPerVcpuHour: 0.03238,
  fargateArmPerGbHour: 0.00356,
  ec2M7gMediumPerHour: 0.0408,
  hoursPerMonth: 730,
} as const;

export interface CostInputs {
  /** Lambda invocations one node event causes (audit batches per node join, measured). */
  invocationsPerNodeEvent: number;
  /** Mean billed duration of one warm invocation (each rounded up to 1 ms), measured on this machine. */
  warmDurationMs: number;
  /** One cold start: process start → first response (the INIT phase plus the first call), measured. */
  coldStartMs: number;
  /** The functions' configured memory (serverless.yml); Lambda bills configured, not used, memory. */
  memoryMB: number;
  /** Peak RSS of a cold function, for the reader to compare with memoryMB. */
  peakRssMiB?: number;
}

export interface CostModel {
  inputs: CostInputs;
  /** USD per million node events, all invocations warm: Lambda requests + duration. */
  lambdaWarmPerMillion: number;
  /** The same with every invocation cold (the worst case: a quiet cluster with rare node events). */
  lambdaAllColdPerMillion: number;
  /** API Gateway HTTP API in front, per million node events. */
  apiGatewayPerMillion: number;
  /** An always-on controller, per month: the smallest Fargate task. */
  fargateMinTaskPerMonth: number;
  /** An always-on controller pod of 0.1 vCPU / 128 MiB on a shared m7g.medium node, priced by its CPU share. */
  podShareOnNodePerMonth: number;
  /** Node events per month at which warm Lambda (+ API Gateway) costs as much as the pod share. */
  breakEvenNodeEventsPerMonthVsPod: number;
}

export function costModel(inputs: CostInputs): CostModel {
  const gb = inputs.memoryMB / 1024;
  const perInvocationWarm = prices.lambdaPerRequest + gb * (inputs.warmDurationMs / 1000) * prices.lambdaArmPerGbSecond;
  const perInvocationCold = perInvocationWarm + gb * (inputs.coldStartMs / 1000) * prices.lambdaArmPerGbSecond;
  const lambdaWarmPerMillion = 1e6 * inputs.invocationsPerNodeEvent * perInvocationWarm;
  const lambdaAllColdPerMillion = 1e6 * inputs.invocationsPerNodeEvent * perInvocationCold;
  const apiGatewayPerMillion = 1e6 * inputs.invocationsPerNodeEvent * prices.apiGatewayHttpPerRequest;
  const fargateMinTaskPerMonth = (0.25 * prices.fargateArmPerVcpuHour + 0.5 * prices.fargateArmPerGbHour) * prices.hoursPerMonth;
  // 0.1 of the node's 1 vCPU; 128 MiB is only 1/32 of its memory, so CPU is the share that binds.
  const podShareOnNodePerMonth = 0.1 * prices.ec2M7gMediumPerHour * prices.hoursPerMonth;
  const perEvent = (lambdaWarmPerMillion + apiGatewayPerMillion) / 1e6;
  return {
    inputs,
    lambdaWarmPerMillion,
    lambdaAllColdPerMillion,
    apiGatewayPerMillion,
    fargateMinTaskPerMonth,
    podShareOnNodePerMonth,
    breakEvenNodeEventsPerMonthVsPod: perEvent > 0 ? podShareOnNodePerMonth / perEvent : Infinity,
  };
}
