/**
 * What the local Lambda service counts (devcluster/lambda/service.ts `/_local/stats`): invocations, cold starts,
 * throttles and errors per function, the SQS event source mapping's batches and messages, and (with its SQS counter)
 * every SQS request by action. Scraped before and after a measurement; the difference is the measurement's. The
 * parsing and the difference are pure.
 */
import * as z from 'zod';

const FunctionStatsSchema = z.looseObject({
  invocations: z.number(),
  coldStarts: z.number(),
  throttles: z.number(),
  errors: z.number(),
  timeouts: z.number(),
  memoryKills: z.number().optional(),
  concurrentMax: z.number(),
});

const MappingStatsSchema = z.looseObject({
  function: z.string(),
  queue: z.string(),
  batches: z.number(),
  messages: z.number(),
  deleted: z.number(),
  failedBatches: z.number(),
  throttledRetries: z.number(),
  inFlightMax: z.number(),
});

const SqsActionSchema = z.object({ requests: z.number(), billedRequests: z.number(), messages: z.number() });

export const LambdaStatsSchema = z.looseObject({
  functions: z.record(z.string(), FunctionStatsSchema),
  mappings: z.array(MappingStatsSchema),
  sqs: z.record(z.string(), SqsActionSchema).optional(),
});

export type LambdaStats = z.infer<typeof LambdaStatsSchema>;

export interface LambdaWindow {
  /** Invocations by function key (e.g. audit → 2, reconcile → 1). */
  invocations: Record<string, number>;
  coldStarts: Record<string, number>;
  throttles: number;
  errors: number;
  /** Invocations killed for going past the configured memory (Runtime.ExitError, signal: killed). */
  memoryKills?: number;
  /** The hints queue's event source mapping: batches invoked, messages received, messages deleted. */
  batches: number;
  messagesReceived: number;
  messagesDeleted: number;
  /** SQS API requests by action (with the counter): what SQS bills. */
  sqs?: {
    byAction: Record<string, { requests: number; billedRequests: number; messages: number }>;
    requests: number;
    billedRequests: number;
    /** SendMessage + SendMessageBatch entries. */
    messagesSent: number;
  };
  /** Highest concurrency of each function since the service started (not a difference: the bound is what counts). */
  concurrentMax: Record<string, number>;
  /** Highest number of the mapping's invocations in flight at once since the service started. */
  mappingInFlightMax: number;
}

export async function scrapeLambdaStats(invokeUrl: string): Promise<LambdaStats> {
  const response = await fetch(`${invokeUrl}/_local/stats`, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${invokeUrl}/_local/stats answered ${response.status}`);
  return LambdaStatsSchema.parse(await response.json());
}

/** after − before, by function and by SQS action; zero rows dropped. Pure. */
export function lambdaWindow(before: LambdaStats, after: LambdaStats): LambdaWindow {
  const invocations: Record<string, number> = {};
  const coldStarts: Record<string, number> = {};
  const concurrentMax: Record<string, number> = {};
  let throttles = 0;
  let errors = 0;
  let memoryKills = 0;
  for (const [key, a] of Object.entries(after.functions)) {
    const b = before.functions[key];
    const d = (field: 'invocations' | 'coldStarts' | 'throttles' | 'errors') => a[field] - (b?.[field] ?? 0);
    if (d('invocations') > 0) invocations[key] = d('invocations');
    if (d('coldStarts') > 0) coldStarts[key] = d('coldStarts');
    if (a.concurrentMax > 0) concurrentMax[key] = a.concurrentMax;
    throttles += d('throttles');
    errors += d('errors');
    memoryKills += (a.memoryKills ?? 0) - (b?.memoryKills ?? 0);
  }
  const sum = (stats: LambdaStats, field: 'batches' | 'messages' | 'deleted') => stats.mappings.reduce((s, m) => s + m[field], 0);
  const window: LambdaWindow = {
    invocations,
    coldStarts,
    throttles,
    errors,
    memoryKills,
    batches: sum(after, 'batches') - sum(before, 'batches'),
    messagesReceived: sum(after, 'messages') - sum(before, 'messages'),
    messagesDeleted: sum(after, 'deleted') - sum(before, 'deleted'),
    concurrentMax,
    mappingInFlightMax: Math.max(0, ...after.mappings.map((m) => m.inFlightMax)),
  };
  if (after.sqs) {
    const byAction: NonNullable<LambdaWindow['sqs']>['byAction'] = {};
    for (const [action, a] of Object.entries(after.sqs)) {
      const b = before.sqs?.[action];
      const row = { requests: a.requests - (b?.requests ?? 0), billedRequests: a.billedRequests - (b?.billedRequests ?? 0), messages: a.messages - (b?.messages ?? 0) };
      if (row.requests > 0) byAction[action] = row;
    }
    const rows = Object.values(byAction);
    window.sqs = {
      byAction,
      requests: rows.reduce((s, r) => s + r.requests, 0),
      billedRequests: rows.reduce((s, r) => s + r.billedRequests, 0),
      messagesSent: (byAction['SendMessage']?.messages ?? 0) + (byAction['SendMessageBatch']?.messages ?? 0),
    };
  }
  return window;
}

/** Billed time of a function's cold and warm invocations (sums), for the extra a cold start costs. */
export interface ColdWarm {
  cold: number;
  coldBilledMs: number;
  warm: number;
  warmBilledMs: number;
}

/** Sums over a function's invocation reports; failed invocations are left out. Pure. */
export function coldWarmOf(reports: readonly { coldStart: boolean; billedDurationMs: number; outcome: string }[]): ColdWarm {
  const out: ColdWarm = { cold: 0, coldBilledMs: 0, warm: 0, warmBilledMs: 0 };
  for (const r of reports) {
    if (r.outcome !== 'ok') continue;
    if (r.coldStart) {
      out.cold += 1;
      out.coldBilledMs += r.billedDurationMs;
    } else {
      out.warm += 1;
      out.warmBilledMs += r.billedDurationMs;
    }
  }
  return out;
}

/** The service's last invocation reports (up to 500 per function) of each function, summed by coldWarmOf. */
export async function fetchColdWarm(invokeUrl: string, functions: readonly string[]): Promise<Record<string, ColdWarm>> {
  const out: Record<string, ColdWarm> = {};
  for (const fn of functions) {
    const response = await fetch(`${invokeUrl}/_local/reports?function=${encodeURIComponent(fn)}`, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) continue;
    const reports = (await response.json()) as { coldStart: boolean; billedDurationMs: number; outcome: string }[];
    const summary = coldWarmOf(reports);
    if (summary.cold + summary.warm > 0) out[fn] = summary;
  }
  return out;
}
