/**
 * Retries transient failures with full-jitter exponential backoff, within the invocation's deadline. When the deadline
 * would pass, the last error is thrown so the request answers 503 and the sender redelivers.
 */
import { isTransient } from '../errors.ts';

export interface RetryOptions {
  /** Epoch milliseconds after which no new attempt starts. */
  deadline: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  baseMs?: number;
  maxMs?: number;
  /** Checked before a retry: false gives up at once with the last error (a write whose view has gone stale). */
  mayRetry?: () => boolean;
}

export async function withRetry<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const base = options.baseMs ?? 100;
  const cap = options.maxMs ?? 5_000;
  for (let n = 0; ; n += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (!isTransient(error)) throw error;
      if (options.mayRetry && !options.mayRetry()) throw error;
      // Honour the API server's Retry-After (429 from API Priority and Fairness) when it gives one.
      const hinted = error.retryAfterSeconds ? error.retryAfterSeconds * 1000 : 0;
      const backoff = Math.max(hinted, options.random() * Math.min(cap, base * 2 ** n));
      if (options.now() + backoff >= options.deadline) throw error;
      await options.sleep(backoff);
    }
  }
}
