/**
 * The composition root: builds the real dependencies once per process (a Lambda cold start or `npm start`) from the
 * configuration: cluster access (src/k8s), the transport, the reconciler. Entry points call this; tests build their
 * own deps. The only module that joins config, k8s and the reconciler.
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
import { createLogger, type Logger } from './log.ts';
import { consumeBatch } from './queue/consumer.ts';
import type { HintQueue } from './queue/port.ts';
import { enqueueingHandler, withQueuedFollowUps } from './queue/runtime.ts';
import { createSqsQueue } from './queue/sqs.ts';
import { createReconciler } from './reconcile/index.ts';
import type { AppDeps } from './http/app.ts';
import { createSsmParameterStore, loadSecrets } from './secrets.ts';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';

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
function lambdaReconciler(config: Config, log: Logger, queue: HintQueue | undefined): HintHandler {
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

/**
 * Dependencies of the HTTP intake functions on Lambda. With a queue they only enqueue (and admission enqueues with
 * its settle delay: docs/adr/0003-queue.md); without one they reconcile inline and admission work goes where the
 * Lambda entry sends it (src/http/lambda.ts).
 */
export async function createDeps(config: Config): Promise<Omit<AppDeps, 'defer'> & Partial<Pick<AppDeps, 'defer'>>> {
  const log = createLogger(config.LOG_LEVEL);
  // Secrets are read here, once per cold start (src/secrets.ts). With a queue the intake never calls the API server,
  // so the cluster token is not read into its memory even where a parameter is named.
  const needed = config.QUEUE_URL ? { ...config, KUBE_TOKEN_PARAMETER: undefined, KUBE_TOKEN: undefined } : config;
  const secrets = await loadSecrets(needed, createSsmParameterStore(), log);
  if (!config.QUEUE_URL) return { handler: lambdaReconciler({ ...config, KUBE_TOKEN: secrets.kubeToken }, log, undefined), config, log, secrets };
  const queue = createSqsQueue({ queueUrl: config.QUEUE_URL });
  return {
    handler: enqueueingHandler(queue),
    config,
    log,
    secrets,
    defer: (_task, work) => queue.send(work.hints, work.delayMs / 1000),
  };
}

/** The resync function: everything, with follow-ups queued when there is a queue. */
export async function createResyncDeps(config: Config): Promise<Omit<AppDeps, 'defer'>> {
  const log = createLogger(config.LOG_LEVEL);
  const secrets = await loadSecrets(config, createSsmParameterStore(), log);
  const queue = config.QUEUE_URL ? createSqsQueue({ queueUrl: config.QUEUE_URL }) : undefined;
  return { handler: lambdaReconciler({ ...config, KUBE_TOKEN: secrets.kubeToken }, log, queue), config, log, secrets };
}

/** The reconcile function: consumes batches of queued hints. */
export async function createConsumer(config: Config): Promise<(event: SQSEvent) => Promise<SQSBatchResponse>> {
  if (!config.QUEUE_URL) throw new Error('invalid configuration: QUEUE_URL: the reconcile function consumes a queue and needs its URL');
  const log = createLogger(config.LOG_LEVEL);
  const secrets = await loadSecrets(config, createSsmParameterStore(), log);
  const queue = createSqsQueue({ queueUrl: config.QUEUE_URL });
  const handler = lambdaReconciler({ ...config, KUBE_TOKEN: secrets.kubeToken }, log, queue);
  return (event) => consumeBatch(event, { handler, queue, log, now: Date.now });
}
