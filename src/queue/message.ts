/**
 * What travels through the queue: hints, one message per intake request or follow-up, validated again when consumed
 * (a queue is an input like any other). `notBefore` carries a delay longer than SQS's 900 s per-message limit.
 */
import * as z from '../zod.ts';
import { HintSchema } from '../http/schemas.ts';
import { withoutPods, type Hint } from '../hints.ts';
import type { SendOptions } from './port.ts';

export const QueueMessageSchema = z.object({
  v: z.literal(1),
  hints: z.array(HintSchema).check(z.minLength(1)),
  /** Epoch ms before which the hints must not be handled (a delay beyond SQS's 15 minutes). */
  notBefore: z.optional(z.int()),
  /** How often these hints already failed a reconcile for a reason that is not transient (see consumer.ts). */
  failures: z.optional(z.int().check(z.minimum(1), z.maximum(1000))),
  /** How often they were sent again after a transient failure (not a deferral: consumer.ts). */
  transients: z.optional(z.int().check(z.minimum(1), z.maximum(1000))),
});

export type QueueMessage = z.infer<typeof QueueMessageSchema>;

/** SQS's longest per-message delay. */
export const MAX_DELAY_SECONDS = 900;

/** The largest message body daemonless sends: SQS takes 256 KiB (262,144 bytes); the rest is headroom. */
export const MAX_MESSAGE_BYTES = 250_000;

export function encodeMessage(hints: readonly Hint[], notBefore?: number, counts: SendOptions = {}): string {
  const message: QueueMessage = {
    v: 1,
    hints: [...hints],
    ...(notBefore === undefined ? {} : { notBefore }),
    ...(counts.failures ? { failures: counts.failures } : {}),
    ...(counts.transients ? { transients: counts.transients } : {}),
  };
  return JSON.stringify(message);
}

/**
 * The bodies that carry `hints`, each at most `limit` bytes: one, unless it would be larger. Then the DaemonSet hints
 * first drop the pod names they carry (Hint `pods`: without them the pass does its full release check, which is always
 * right) and orphans their labels (Hint `orphan`: the pass reads the pod instead), and if that is not enough the hints
 * are split over several messages.
 */
export function encodeMessages(hints: readonly Hint[], notBefore?: number, counts: SendOptions = {}, limit = MAX_MESSAGE_BYTES): string[] {
  const fits = (body: string) => Buffer.byteLength(body) <= limit;
  const whole = encodeMessage(hints, notBefore, counts);
  if (fits(whole)) return [whole];
  const unnamed = hints.map((h) => (h.kind === 'daemonSet' && h.pods !== undefined ? withoutPods(h) : h.kind === 'orphan' && h.labels !== undefined ? withoutLabels(h) : h));
  const lighter = encodeMessage(unnamed, notBefore, counts);
  if (fits(lighter) || unnamed.length === 1) return [lighter];
  const half = Math.ceil(unnamed.length / 2);
  return [...encodeMessages(unnamed.slice(0, half), notBefore, counts, limit), ...encodeMessages(unnamed.slice(half), notBefore, counts, limit)];
}

function withoutLabels(hint: Extract<Hint, { kind: 'orphan' }>): Hint {
  const { labels: _labels, ...rest } = hint;
  return rest;
}
