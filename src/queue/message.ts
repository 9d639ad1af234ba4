/**
 * What travels through the queue: hints, one message per intake request or follow-up, validated again when consumed
 * (a queue is an input like any other). `notBefore` carries a delay longer than SQS's 900 s per-message limit.
 */
import * as z from 'zod';
import { HintSchema } from '../http/schemas.ts';
import type { Hint } from '../hints.ts';

export const QueueMessageSchema = z.object({
  v: z.literal(1),
  hints: z.array(HintSchema).min(1),
  /** Epoch ms before which the hints must not be handled (a delay beyond SQS's 15 minutes). */
  notBefore: z.number().int().optional(),
  /** How often these hints already failed a reconcile for a reason that is not transient (see consumer.ts). */
  failures: z.number().int().min(1).max(1000).optional(),
});

export type QueueMessage = z.infer<typeof QueueMessageSchema>;

/** SQS's longest per-message delay. */
export const MAX_DELAY_SECONDS = 900;

export function encodeMessage(hints: readonly Hint[], notBefore?: number, failures?: number): string {
  const message: QueueMessage = { v: 1, hints: [...hints], ...(notBefore === undefined ? {} : { notBefore }), ...(failures ? { failures } : {}) };
  return JSON.stringify(message);
}
