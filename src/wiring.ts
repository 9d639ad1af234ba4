/**
 * The composition root: builds the real dependencies once per process (a Lambda cold start or `npm start`) from the
 * configuration. Entry points call this; tests build their own deps. The cluster side (client-node, the reconciler)
 * is in ./wiring-cluster.ts and loaded on demand: with the queue, the intake functions only enqueue and never load it.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { requireClusterAccess, type Config } from './config.ts';
import type { AppDeps } from './http/app.ts';
import { createLogger } from './log.ts';
import { consumeBatch } from './queue/consumer.ts';
import { enqueueingHandler } from './queue/runtime.ts';
import { createSqsQueue } from './queue/sqs.ts';
import { createSsmParameterStore, loadSecrets } from './secrets.ts';

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
  if (!config.QUEUE_URL) return { handler: (await import('./wiring-cluster.ts')).lambdaReconciler({ ...config, KUBE_TOKEN: secrets.kubeToken }, log, undefined), config, log, secrets };
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
  requireClusterAccess(config);
  const log = createLogger(config.LOG_LEVEL);
  const secrets = await loadSecrets(config, createSsmParameterStore(), log);
  const queue = config.QUEUE_URL ? createSqsQueue({ queueUrl: config.QUEUE_URL }) : undefined;
  const { lambdaReconciler } = await import('./wiring-cluster.ts');
  return { handler: lambdaReconciler({ ...config, KUBE_TOKEN: secrets.kubeToken }, log, queue), config, log, secrets };
}

/** The reconcile function: consumes batches of queued hints. */
export async function createConsumer(config: Config): Promise<(event: SQSEvent, signal?: AbortSignal) => Promise<SQSBatchResponse>> {
  if (!config.QUEUE_URL) throw new Error('invalid configuration: QUEUE_URL: the reconcile function consumes a queue and needs its URL');
  requireClusterAccess(config);
  const log = createLogger(config.LOG_LEVEL);
  const secrets = await loadSecrets(config, createSsmParameterStore(), log);
  const queue = createSqsQueue({ queueUrl: config.QUEUE_URL });
  const { lambdaReconciler } = await import('./wiring-cluster.ts');
  const handler = lambdaReconciler({ ...config, KUBE_TOKEN: secrets.kubeToken }, log, queue);
  return (event, signal) => consumeBatch(event, { handler, queue, log, now: Date.now, drain: { queue, max: config.QUEUE_DRAIN_MAX, batchSize: config.QUEUE_BATCH_SIZE } }, signal);
}
