/**
 * List, then watch from the list's resourceVersion; relist when the watch expires (410 Gone, as an ERROR event or
 * an HTTP status) and reconnect with backoff on errors. client-node's Watch also ends every idle stream after 30 s
 * without data; that is a normal reconnect from the last resourceVersion, not an error.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { describe, statusOf } from './client.ts';
import type { Logger } from './log.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface Versioned {
  metadata?: { resourceVersion?: string };
}

export interface ListWatchOptions<T extends Versioned> {
  kc: KubeConfig;
  /** Collection path, e.g. `/api/v1/pods`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  list(): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  /** The full current state (first list and every relist): replaces what the caller knew. */
  onList(items: T[]): void;
  onEvent(type: WatchEventType, object: T): void;
  log: Logger;
  /** For log lines. */
  name: string;
}

export interface ListWatch {
  /** Resolves after the first successful list has been delivered. */
  synced: Promise<void>;
  stop(): void;
}

type Outcome = { kind: 'closed' } | { kind: 'gone' } | { kind: 'error'; error: unknown };

export function startListWatch<T extends Versioned>(options: ListWatchOptions<T>): ListWatch {
  const { kc, log, name } = options;
  const stopper = new AbortController();
  let current: AbortController | undefined;
  let resolveSynced!: () => void;
  const synced = new Promise<void>((r) => (resolveSynced = r));
  const watch = new Watch(kc);

  const watchOnce = (resourceVersion: string, seen: (rv: string) => void) =>
    new Promise<Outcome>((resolve) => {
      let gone = false;
      let failure: Error | undefined;
      const query = {
        resourceVersion,
        allowWatchBookmarks: true,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
      };
      watch
        .watch(
          options.path,
          query,
          (type: string, object: T & { code?: number; message?: string }) => {
            if (type === 'ERROR') {
              if (object.code === 410) gone = true;
              else failure = new Error(`error event ${object.code ?? ''} ${object.message ?? ''}`);
              current?.abort();
              return;
            }
            const rv = object.metadata?.resourceVersion;
            if (rv) seen(rv);
            if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') options.onEvent(type, object);
          },
          (error: unknown) => {
            if (gone || statusOf(error) === 410) resolve({ kind: 'gone' });
            else if (failure) resolve({ kind: 'error', error: failure });
            else if (!error || (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError') resolve({ kind: 'closed' });
            else resolve({ kind: 'error', error });
          },
        )
        .then((controller) => {
          current = controller;
          if (stopper.signal.aborted) controller.abort();
        }, (error: unknown) => resolve({ kind: 'error', error }));
    });

  const run = async () => {
    let resourceVersion: string | undefined;
    let backoffMs = 250;
    while (!stopper.signal.aborted) {
      try {
        if (resourceVersion === undefined) {
          const list = await options.list();
          if (stopper.signal.aborted) return;
          resourceVersion = list.metadata?.resourceVersion ?? '';
          options.onList(list.items);
          resolveSynced();
          log.debug(`${name}: listed ${list.items.length} at resourceVersion ${resourceVersion}`);
        }
        const startedAt = Date.now();
        const outcome = await watchOnce(resourceVersion, (rv) => {
          resourceVersion = rv;
          backoffMs = 250;
        });
        if (stopper.signal.aborted) return;
        if (outcome.kind === 'gone') {
          log.info(`${name}: watch expired (410), relisting`);
          resourceVersion = undefined;
        } else if (outcome.kind === 'error') {
          throw outcome.error;
        } else if (Date.now() - startedAt < 1000) {
          // A stream that ends at once, again and again, must not become a busy loop.
          await sleep(backoffMs, undefined, { signal: stopper.signal }).catch(() => {});
          backoffMs = Math.min(backoffMs * 2, 10_000);
        }
      } catch (error) {
        if (stopper.signal.aborted) return;
        log.warn(`${name}: ${describe(error)}; retrying in ${backoffMs} ms`);
        await sleep(backoffMs, undefined, { signal: stopper.signal }).catch(() => {});
        backoffMs = Math.min(backoffMs * 2, 10_000);
      }
    }
  };
  void run();

  return {
    synced,
    stop() {
      stopper.abort();
      current?.abort();
    },
  };
}
