/**
 * The composition root: builds the real dependencies once per process (a Lambda cold start or `npm start`) from the
 * configuration: cluster access (src/k8s), the transport, the reconciler. Entry points call this; tests build their
 * own deps. The only module that joins config, k8s and the reconciler.
 */
import { randomUUID } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Config } from './config.ts';
import { defaultPlanOptions } from './core/model.ts';
import type { HintHandler } from './hints.ts';
import { withInlineFollowUps } from './follow-up.ts';
import { createCluster } from './k8s/cluster.ts';
import { eksBearerToken, loadKubeConfig } from './k8s/kubeconfig.ts';
import { createTransport } from './k8s/transport.ts';
import { createLogger, type Logger } from './log.ts';
import { createReconciler } from './reconcile/index.ts';
import type { AppDeps } from './http/app.ts';

export function createHandler(config: Config, log: Logger, kc: KubeConfig = loadKubeConfig(config)): HintHandler {
  const token = eksBearerToken(config);
  const transport = createTransport(kc, { requestTimeoutMs: Math.min(10_000, config.TIME_BUDGET_MS), ...(token ? { bearerToken: token } : {}) });
  return createReconciler({
    cluster: (deadline) => createCluster(transport, { deadline }),
    now: () => new Date(),
    newId: () => randomUUID(),
    log,
    options: {
      plan: defaultPlanOptions,
      writeConcurrency: config.WRITE_CONCURRENCY,
      timeBudgetMs: config.TIME_BUDGET_MS,
      wideReadThreshold: config.WIDE_READ_THRESHOLD,
      eventsPerReason: 5,
    },
  });
}

/**
 * Dependencies for Lambda: no background work survives the response, so follow-up passes run inline; where deferred
 * work goes is the Lambda entry's choice (src/http/lambda.ts).
 */
export async function createDeps(config: Config): Promise<Omit<AppDeps, 'defer'>> {
  const log = createLogger(config.LOG_LEVEL);
  return { handler: withInlineFollowUps(createHandler(config, log)), config, log };
}
