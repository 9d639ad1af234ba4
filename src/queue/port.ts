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
  /** How often they were already sent again after a transient failure (carried in the message). */
  transients?: number;
}

/** A message the consumer took from the queue itself (beside the batch the event source mapping handed it). */
export interface ReceivedMessage {
  id: string;
  /** The receipt handle that deletes it. */
  receipt: string;
  body: string;
}

/**
 * The reconcile function's own reads of the queue (src/queue/consumer.ts): messages already waiting when a batch
 * arrives join that batch's pass, so a backlog is worked off in few passes instead of one pass per batch of 10.
 */
export interface QueueDrain {
  /** Up to `max` messages visible now (no long poll); an empty array when there are none. */
  receive(max: number): Promise<ReceivedMessage[]>;
  /** Deletes handled messages; resolves with the ids it could not delete (they come back after their visibility timeout). */
  delete(messages: readonly ReceivedMessage[]): Promise<string[]>;
}
