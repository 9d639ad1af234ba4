/**
 * Requests through the transport, retried until the invocation's deadline and counted (every list page counts): what
 * the Cluster port (./cluster.ts) and the Leases (./leases.ts) share.
 */
import { NotFoundError, isTransient } from '../errors.ts';
import { withRetry, type RetryOptions } from './retry.ts';
import type { Request, Transport } from './transport.ts';

export interface CallTiming {
  /** Epoch ms after which transient failures are no longer retried. */
  deadline: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /**
   * Checked before a failed request marked `fromView` (a pod create or delete) is retried: false gives up with its
   * error. A reconcile pass stops retrying writes decided from a view that has meanwhile gone stale
   * (src/reconcile/deps.ts `viewIsFresh`).
   */
  mayRetryFromView?: () => boolean;
}

/** Sends requests through the transport with retries and counts them. */
export interface Calls {
  call<T>(request: Request): Promise<T>;
  /** Like `call`, resolving to null on 404. */
  orNull<T>(request: Request): Promise<T | null>;
}

export type CountedCalls = Calls & {
  count(): number;
  counted(what: string): void;
  byKind(): Record<string, number>;
  /** Requests that failed transiently (each attempt), retried or not. */
  failures(): number;
  /** Counts a transient failure of a request made outside `call` (list pages). */
  failed(error: unknown): void;
  retry: RetryOptions;
};

/** Calls through the transport with retries until `options.deadline`, counted: shared by the port and the leases. */
export function createCalls(
  transport: Transport,
  options: CallTiming,
): CountedCalls {
  let requests = 0;
  let failures = 0;
  // By the first two words of `what` ("list pods", "create pod", "update status"), for the log: what a pass cost.
  const kinds = new Map<string, number>();
  const tally = (what: string) => {
    requests += 1;
    const kind = what.split(' ').slice(0, 2).join(' ');
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  };
  const retry: RetryOptions = {
    deadline: options.deadline,
    now: options.now ?? Date.now,
    sleep: options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
    random: options.random ?? Math.random,
  };
  const fromViewRetry: RetryOptions = options.mayRetryFromView ? { ...retry, mayRetry: options.mayRetryFromView } : retry;
  const failed = (error: unknown): void => {
    if (isTransient(error)) failures += 1;
  };
  const calls = {
    retry,
    count: () => requests,
    byKind: () => Object.fromEntries(kinds),
    failures: () => failures,
    failed,
    call: <T>(request: Request) =>
      withRetry(async () => {
        tally(request.what);
        try {
          return await transport.send<T>(request);
        } catch (error) {
          failed(error);
          throw error;
        }
      }, request.fromView ? fromViewRetry : retry),
    async orNull<T>(request: Request): Promise<T | null> {
      try {
        return await calls.call<T>(request);
      } catch (error) {
        if (error instanceof NotFoundError) return null;
        throw error;
      }
    },
    /** Counts a request made outside `call` (list pages). */
    counted: tally,
  };
  return calls;
}


/** A page of a list, as the API server answers it. */
interface ListPage<T> {
  items?: T[] | null;
  metadata?: { continue?: string; resourceVersion?: string };
}

const PAGE = '500';

/** V8's heap in use above which a list collects between two pages (see `collectBetweenPages`). */
export const COLLECT_ABOVE_HEAP_BYTES = 32 * 1024 * 1024;

/**
 * Where the runtime exposes V8's collector (`--expose-gc`, which the nodejs22.x bootstrap gives every function), a
 * full collection between two pages of a list once the heap in use passes `COLLECT_ABOVE_HEAP_BYTES`. Without it V8
 * frees a page's text (1.6 MB for 500 nodes, a large object) and its parsed objects only at a major collection, which
 * a heap limit sized for a 256 MB function postpones past the end of a pass: every page of a 5,000-node list stayed
 * in memory at once (docs/benchmarks.md, memory). Below the threshold (a 1,000-node cluster) a collection after every
 * page cost the passes CPU and kept no memory that mattered.
 */
export function collectBetweenPages(
  heapUsed: () => number = () => process.memoryUsage().heapUsed,
  gc: (() => void) | null = (globalThis as { gc?: () => void }).gc ?? null,
): boolean {
  if (!gc || heapUsed() < COLLECT_ABOVE_HEAP_BYTES) return false;
  gc();
  return true;
}

/**
 * Follows `continue` tokens, 500 items a page; a list restarts from scratch when its token expired (410, retried).
 * `project` keeps of each item what the core reads (core/fields.ts), page by page, so a list of every node or pod of a
 * large cluster holds only those fields, never every page whole.
 */
export function listAll<T>(
  transport: Transport,
  calls: CountedCalls,
  request: ListRequest,
  project: (item: T) => T = (item) => item,
): Promise<T[]> {
  return listAllAt(transport, calls, request, project).then((listed) => listed.items);
}

type ListRequest = { what: string; path: string; query: Record<string, string | undefined>; accept?: string; decode?: (body: Uint8Array) => unknown };

/** A list's items and the resourceVersion it was read at (its first page's: the later pages continue that snapshot). */
export interface Listed<T> {
  items: T[];
  resourceVersion: string | undefined;
}

/** `listAll`, with the resourceVersion the list was read at. */
export function listAllAt<T>(transport: Transport, calls: CountedCalls, request: ListRequest, project: (item: T) => T = (item) => item): Promise<Listed<T>> {
  return withRetry(async () => {
    const items: T[] = [];
    let resourceVersion: string | undefined;
    let cont: string | undefined;
    do {
      calls.counted(request.what);
      const page = await transport
        .send<ListPage<T>>({ method: 'GET', ...request, query: { ...request.query, limit: PAGE, continue: cont } })
        .catch((error: unknown) => {
          calls.failed(error);
          throw error;
        });
      for (const item of page.items ?? []) items.push(project(item));
      if (cont === undefined) resourceVersion = page.metadata?.resourceVersion || undefined;
      cont = page.metadata?.continue || undefined;
      if (cont) collectBetweenPages();
    } while (cont);
    return { items, resourceVersion };
  }, calls.retry);
}
