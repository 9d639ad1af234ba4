/**
 * The fault proxy's configuration and its decision: which fault, if any, a request gets. Pure (the random draw is an
 * argument), so every rule is unit-tested; devcluster/faults/proxy.ts acts on the decision.
 *
 * Rules are tried in order; the first whose `match` fits the request (and whose `limit` is not used up) decides, by
 * one draw against its cumulative rates. A request no rule matches is forwarded untouched.
 */
import * as z from 'zod';
import { type RequestInfo, type Verb, verbs } from './request-info.ts';

export const faultKinds = ['429', '500', '503', 'timeout', 'reset', 'slow', 'truncated'] as const;
export type FaultKind = (typeof faultKinds)[number];

/** What each kind does to a request, for docs and error messages. */
export const faultDescriptions: Record<FaultKind, string> = {
  '429': '429 TooManyRequests with Retry-After (as API Priority and Fairness answers)',
  '500': '500 InternalError',
  '503': '503 ServiceUnavailable',
  timeout: 'no answer: the request is held for holdMs (beyond the client timeout), then its connection is dropped',
  reset: 'the connection is reset (TCP RST) without an answer',
  slow: 'the answer comes delayMs late',
  truncated: 'the status line, headers and half of the body, then the connection is dropped',
};

const verbGroups: Record<string, readonly Verb[]> = {
  read: ['get', 'list', 'watch'],
  write: ['create', 'update', 'patch', 'delete', 'deletecollection'],
};

const VerbMatchSchema = z.enum(['read', 'write', ...verbs]);

export const MatchSchema = z
  .object({
    /** Kubernetes verbs, or `read` (get/list/watch) / `write` (create/update/patch/delete/deletecollection). */
    verbs: z.array(VerbMatchSchema).min(1).optional(),
    /**
     * `pods` (not its subresources), `pods/status`, `pods/*` (pods and every subresource), `*` (every resource
     * request). Without it, non-resource requests (/version) match too.
     */
    resources: z.array(z.string().regex(/^(\*|[a-z0-9.-]+(\/(\*|[a-z0-9-]+))?)$/, 'a resource: pods, pods/status, pods/* or *')).min(1).optional(),
    namespaces: z.array(z.string().min(1)).min(1).optional(),
    /** Only this API group ('' for the core group). */
    apiGroups: z.array(z.string()).min(1).optional(),
  })
  .strict();
export type Match = z.infer<typeof MatchSchema>;

const RatesSchema = z
  .object(Object.fromEntries(faultKinds.map((k) => [k, z.number().min(0).max(1).optional()])) as Record<FaultKind, z.ZodOptional<z.ZodNumber>>)
  .strict()
  .refine((rates) => Object.values(rates).reduce<number>((sum, r) => sum + (r ?? 0), 0) <= 1 + 1e-9, 'the rates of one rule add up to more than 1');

export const RuleSchema = z
  .object({
    /** For counters and logs; default `rule <index>`. */
    name: z.string().min(1).optional(),
    match: MatchSchema.default({}),
    /** Share of the matching requests that get each fault, 0..1; their sum at most 1. */
    rates: RatesSchema,
    /** At most this many faults from this rule (then it is skipped, and later rules may match); default unlimited. */
    limit: z.number().int().positive().optional(),
    /**
     * Forward the request first and fault the answer: the API server has APPLIED the request (a create happened) but
     * the client sees a failure. Applies to 429/500/503/timeout/reset; slow and truncated are always after.
     */
    afterUpstream: z.boolean().default(false),
    retryAfterSeconds: z.number().int().min(0).max(3600).default(1),
    /** `timeout`: how long a request is held before its connection is dropped (the client usually gives up first). */
    holdMs: z.number().int().min(0).max(600_000).default(30_000),
    /** `slow`: the extra delay. */
    delayMs: z.number().int().min(0).max(600_000).default(2_000),
  })
  .strict();
export type Rule = z.infer<typeof RuleSchema>;

export const FaultConfigSchema = z
  .object({
    rules: z.array(RuleSchema).default([]),
    /** Seed of the random draws (mulberry32); default: a random seed, reported in the config read back. */
    seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  })
  .strict();
export type FaultConfig = z.infer<typeof FaultConfigSchema>;
export type FaultConfigInput = z.input<typeof FaultConfigSchema>;

export class FaultConfigError extends Error {
  override name = 'FaultConfigError';
}

/** Parses a configuration, or throws a FaultConfigError naming every problem with its path. */
export function parseFaultConfig(input: unknown): FaultConfig {
  const parsed = FaultConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new FaultConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

export function ruleName(rule: Rule, index: number): string {
  return rule.name ?? `rule ${index}`;
}

export function matches(match: Match, info: RequestInfo): boolean {
  if (match.verbs && !match.verbs.some((v) => (verbGroups[v] ?? [v]).includes(info.verb as Verb))) return false;
  if (match.namespaces && !match.namespaces.includes(info.namespace)) return false;
  if (match.apiGroups && (!info.isResourceRequest || !match.apiGroups.includes(info.apiGroup))) return false;
  if (match.resources) {
    if (!info.isResourceRequest) return false;
    if (!match.resources.some((pattern) => resourceMatches(pattern, info))) return false;
  }
  return true;
}

function resourceMatches(pattern: string, info: RequestInfo): boolean {
  if (pattern === '*') return true;
  const [resource, sub] = pattern.split('/') as [string, string | undefined];
  if (resource !== info.resource) return false;
  if (sub === undefined) return info.subresource === '';
  return sub === '*' || sub === info.subresource;
}

export interface Decision {
  readonly kind: FaultKind;
  readonly ruleIndex: number;
  readonly rule: Rule;
}

/**
 * The fault for one request, or undefined to forward it. `used[i]` is how many faults rule i injected so far (for
 * `limit`); `random` is one draw in [0, 1).
 */
export function decide(config: FaultConfig, info: RequestInfo, used: readonly number[], random: number): Decision | undefined {
  for (const [index, rule] of config.rules.entries()) {
    if (rule.limit !== undefined && (used[index] ?? 0) >= rule.limit) continue;
    if (!matches(rule.match, info)) continue;
    let cumulative = 0;
    for (const kind of faultKinds) {
      cumulative += rule.rates[kind] ?? 0;
      if (random < cumulative) return { kind, ruleIndex: index, rule };
    }
    return undefined;
  }
  return undefined;
}

/** mulberry32: a small seeded generator, so a run's draws are reproducible from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The Status object the API server sends with an error code. */
export function statusBody(kind: '429' | '500' | '503', retryAfterSeconds: number): Record<string, unknown> {
  const common = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure' };
  switch (kind) {
    case '429':
      return {
        ...common,
        message: 'Too many requests, please try again later. (injected by the daemonless fault proxy)',
        reason: 'TooManyRequests',
        details: { retryAfterSeconds },
        code: 429,
      };
    case '500':
      return { ...common, message: 'Internal error (injected by the daemonless fault proxy)', reason: 'InternalError', code: 500 };
    case '503':
      return { ...common, message: 'Service unavailable (injected by the daemonless fault proxy)', reason: 'ServiceUnavailable', code: 503 };
  }
}
