/**
 * Calls to AWS through the runtime's SDK v3 (SSM, SQS, Lambda), each under a timeout. The SDK sets none of its own: a
 * function in a VPC without a route to the service would wait for TCP to give up (minutes), past its own timeout
 * (29 s for the intake functions), and fail as "Task timed out" instead of naming the call.
 */

/** The longest one call (the SDK's own retries included) may take. */
export const AWS_CALL_TIMEOUT_MS = 10_000;

/** `run` with an abort signal that fires after `timeoutMs`; a call aborted by it fails as no answer, naming `what`. */
export async function callWithin<T>(what: string, timeoutMs: number, run: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  const abortSignal = AbortSignal.timeout(timeoutMs);
  try {
    return await run(abortSignal);
  } catch (error) {
    if (abortSignal.aborted) throw new Error(`${what}: no answer within ${timeoutMs} ms`, { cause: error });
    throw error;
  }
}
