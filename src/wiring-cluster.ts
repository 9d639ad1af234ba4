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
import { createPassScheduler } from './k8s/leases.ts';
import { createTransport, type Transport } from './k8s/transport.ts';
import type { Logger } from './log.ts';
import type { HintQueue } from './queue/port.ts';
import { withQueuedFollowUps } from './queue/runtime.ts';
import { createReconciler } from './reconcile/index.ts';

function transportFor(config: Config, kc: KubeConfig): Transport {
  const token = eksBearerToken(config);
  return createTransport(kc, { requestTimeoutMs: Math.min(10_000, config.TIME_BUDGET_MS), ...(token ? { bearerToken: token } : {}) });
}

export function createHandler(config: Config, log: Logger, kc: KubeConfig = loadKubeConfig(config)): HintHandler {
  return reconcilerOn(transportFor(config, kc), config, log);
}

function reconcilerOn(transport: Transport, config: Config, log: Logger): HintHandler {
  const kinds = managedKinds(config.MANAGE);
  return createReconciler({
    cluster: (deadline) => createCluster(transport, { deadline, kinds, leaseNamespace: config.LEASE_NAMESPACE }),
    now: () => new Date(),
    newId: () => randomUUID(),
    log,
    options: {
      plan: defaultPlanOptions,
      writeConcurrency: config.WRITE_CONCURRENCY,
      timeBudgetMs: config.TIME_BUDGET_MS,
      wideReadThreshold: config.WIDE_READ_THRESHOLD,
      eventsPerReason: 5,
      kinds,
    },
  });
}

/**
 * A reconciler for Lambda, where nothing runs after the answer: with a queue (QUEUE_URL) follow-ups and re-queues
 * become delayed messages; without one (the direct path) follow-up passes run at the end of the same invocation and
 * re-queues wait for the next event or the resync.
 */
export function lambdaReconciler(config: Config, log: Logger, queue: HintQueue | undefined): HintHandler {
  const transport = transportFor(config, loadKubeConfig(config));
  const reconciler = reconcilerOn(transport, config, log);
  if (!queue) return withInlineFollowUps(reconciler);
  return withQueuedFollowUps(reconciler, {
    queue,
    scheduler: (deadline) => createPassScheduler(createCalls(transport, { deadline }), config.LEASE_NAMESPACE),
    intervalMs: Math.max(1000, config.FOLLOW_UP_INTERVAL_MS),
    now: Date.now,
    log,
  });
}

