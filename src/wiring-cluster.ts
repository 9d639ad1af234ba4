/**
 * The cluster side of the composition root (src/wiring.ts): cluster access (src/k8s, client-node), the transport and
 * the reconciler, with its follow-up strategy. Loaded only by what reconciles: the local server, and on Lambda through
 * a dynamic import (wiring.ts), so an intake function that only enqueues never evaluates client-node at cold start.
 */
import { randomUUID } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { managedKinds, type Config } from './config.ts';
import { defaultPlanOptions } from './core/model.ts';
import type { HintHandler } from './hints.ts';
import { withInlineFollowUps } from './follow-up.ts';
import { createCalls, createCluster } from './k8s/cluster.ts';
import { eksBearerToken, loadKubeConfig } from './k8s/kubeconfig.ts';
import { createPassLock, createPassScheduler } from './k8s/leases.ts';
import { createTransport, type Transport } from './k8s/transport.ts';
import type { Logger } from './log.ts';
import type { HintQueue } from './queue/port.ts';
import { withPassLock } from './pass-lock.ts';
import { withQueuedFollowUps } from './queue/runtime.ts';
import { createReconciler } from './reconcile/index.ts';

/** The longest a single API request may take (the transport's timeout), within the time budget. */
const requestTimeoutMs = (config: Config) => Math.min(config.REQUEST_TIMEOUT_MS, config.TIME_BUDGET_MS);

function transportFor(config: Config, kc: KubeConfig): Transport {
  const token = eksBearerToken(config);
  return createTransport(kc, { requestTimeoutMs: requestTimeoutMs(config), ...(token ? { bearerToken: token } : {}) });
}

/** The local server's reconciler; with the pass lock where it may run passes at once (PASS_LOCK, src/config.ts). */
export function createHandler(config: Config, log: Logger, kc: KubeConfig = loadKubeConfig(config)): HintHandler {
  const transport = transportFor(config, kc);
  const locked = config.PASS_LOCK === 'on' || (config.PASS_LOCK === 'auto' && config.MAX_CONCURRENT_RECONCILES > 1);
  // src/local/serve.ts runs at most MAX_CONCURRENT_RECONCILES passes at once (withCoalescing).
  const reconciler = reconcilerOn(transport, config, log, locked || config.MAX_CONCURRENT_RECONCILES === 1);
  return locked ? passLocked(reconciler, transport, config, log) : reconciler;
}

/**
 * `inner` under the pass lock, renewed every 5 s for 20 s: a renewal held up by its requests (3 s each, 6 s per try) still lands
 * before the hold ends, and a holder that died blocks the others for 20 s at most.
 */
function passLocked(inner: HintHandler, transport: Transport, config: Config, log: Logger): HintHandler {
  return withPassLock(inner, {
    lock: () => createPassLock((deadline) => createCalls(transport, { deadline }), config.LEASE_NAMESPACE),
    holdMs: 20_000,
    renewEveryMs: 5_000,
    waitMs: config.PASS_LOCK_WAIT_MS,
    now: Date.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    newId: () => randomUUID(),
    log,
  });
}

/** `passesSerialized`: no two passes of the deployment overlap (src/reconcile/deps.ts). */
function reconcilerOn(transport: Transport, config: Config, log: Logger, passesSerialized: boolean): HintHandler {
  const kinds = managedKinds(config.MANAGE);
  return createReconciler({
    cluster: (deadline, mayRetryFromView) => createCluster(transport, { deadline, mayRetryFromView, kinds, leaseNamespace: config.LEASE_NAMESPACE, listEncoding: config.LIST_ENCODING }),
    now: () => new Date(),
    newId: () => randomUUID(),
    log,
    options: {
      // Nothing in a pass reads the per-node decisions; at scale they were most of its memory.
      plan: { ...defaultPlanOptions, recordDecisions: false },
      writeConcurrency: config.WRITE_CONCURRENCY,
      timeBudgetMs: config.TIME_BUDGET_MS,
      wideReadThreshold: config.WIDE_READ_THRESHOLD,
      eventsPerReason: 5,
      kinds,
      staleViewMs: config.STALE_VIEW_MS,
      passesSerialized,
    },
  });
}

/**
 * A reconciler for Lambda, where nothing runs after the answer and passes of several instances overlap (so under the
 * pass lock unless PASS_LOCK=off): with a queue (QUEUE_URL) follow-ups and re-queues
 * become delayed messages; without one (the direct path) follow-up passes run at the end of the same invocation and
 * re-queues wait for the next event or the resync.
 */
export function lambdaReconciler(config: Config, log: Logger, queue: HintQueue | undefined): HintHandler {
  const transport = transportFor(config, loadKubeConfig(config));
  const reconciler = config.PASS_LOCK === 'off' ? reconcilerOn(transport, config, log, false) : passLocked(reconcilerOn(transport, config, log, true), transport, config, log);
  if (!queue) return withInlineFollowUps(reconciler);
  return withQueuedFollowUps(reconciler, {
    queue,
    scheduler: (deadline) => createPassScheduler(createCalls(transport, { deadline }), config.LEASE_NAMESPACE),
    intervalMs: Math.max(1000, config.FOLLOW_UP_INTERVAL_MS),
    followUpDelayMs: config.FOLLOW_UP_DELAY_MS,
    now: Date.now,
    log,
  });
}

