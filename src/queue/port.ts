/**
 * The queue between intake and reconcile, as the rest of daemonless sees it. `src/queue/sqs.ts` implements it with
 * Amazon SQS (ElasticMQ locally); tests pass a recording fake.
 */
import type { Hint } from '../hints.ts';

export interface HintQueue {
  /**
   * Sends hints to be reconciled after `delaySeconds` (0 to 900 in one message; longer delays travel as `notBefore`
   * and are re-sent by the consumer until due). Rejects with a TransientError when the queue cannot take them.
   */
  send(hints: readonly Hint[], delaySeconds?: number, options?: SendOptions): Promise<void>;
}

export interface SendOptions {
  /** How often these hints already failed a reconcile for a reason that is not transient (carried in the message). */
  failures?: number;
}
