/**
 * Builds the real dependencies once per process (a Lambda cold start or `npm start`): kubeconfig, API clients,
 * logger, the reconciler. Entry points call this; tests build their own deps.
 */
import { randomUUID } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import type { Config } from './config.ts';
import { defaultPlanOptions } from './core/model.ts';
import type { HintHandler } from './hints.ts';
import { withInlineFollowUps } from './follow-up.ts';
import { createApiClients, createCluster } from './k8s/cluster.ts';
import { createEksTokenProvider, credentialsFromEnv } from './k8s/eks-token.ts';
import { createLogger, type Logger } from './log.ts';
import { createReconciler } from './reconcile.ts';
import type { AppDeps } from './http/app.ts';
import { createSsmParameterStore, loadSecrets } from './secrets.ts';

/**
 * KUBE_SERVER + KUBE_TOKEN or EKS_CLUSTER_NAME (functions), else KUBECONFIG, else client-node's default (in-cluster,
 * ~/.kube/config). With EKS_CLUSTER_NAME the user has no credentials: `eksBearerToken` supplies one per request.
 */
export function loadKubeConfig(config: Config): KubeConfig {
  const kc = new KubeConfig();
  if (config.KUBE_SERVER && (config.KUBE_TOKEN || config.EKS_CLUSTER_NAME)) {
    kc.loadFromOptions({
      clusters: [{ name: 'cluster', server: config.KUBE_SERVER, caData: config.KUBE_CA_DATA, skipTLSVerify: false }],
      users: [config.KUBE_TOKEN ? { name: 'daemonless', token: config.KUBE_TOKEN } : { name: 'daemonless' }],
      contexts: [{ name: 'daemonless', cluster: 'cluster', user: 'daemonless' }],
      currentContext: 'daemonless',
    });
  } else if (config.KUBECONFIG) kc.loadFromFile(config.KUBECONFIG);
  else kc.loadFromDefault();
  return kc;
}

/** EKS IAM authentication: a token presigned with the function's AWS credentials, regenerated every 10 minutes. */
export function eksBearerToken(config: Config, now: () => Date = () => new Date()): (() => string) | undefined {
  const { EKS_CLUSTER_NAME: clusterName, AWS_REGION: region } = config;
  if (!clusterName) return undefined;
  if (!region) throw new Error('EKS_CLUSTER_NAME needs AWS_REGION');
  // Lambda's credentials are fixed for the life of the execution environment (the SDK's env provider reads them once too).
  return createEksTokenProvider({ region, clusterName, credentials: () => credentialsFromEnv(config), now });
}

export function createHandler(config: Config, log: Logger, kc: KubeConfig = loadKubeConfig(config)): HintHandler {
  const clients = createApiClients(kc, {
    requestTimeoutMs: Math.min(10_000, config.TIME_BUDGET_MS),
    bearerToken: eksBearerToken(config),
  });
  return createReconciler({
    cluster: (deadline) => createCluster(clients, { deadline }),
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
 * Dependencies for Lambda: no background work survives the response (see docs/adr/0001-admission-on-lambda.md).
 * Secrets are read here, once per cold start (src/secrets.ts).
 */
export async function createDeps(config: Config): Promise<AppDeps> {
  const log = createLogger(config.LOG_LEVEL);
  const secrets = await loadSecrets(config, createSsmParameterStore(), log);
  return {
    handler: withInlineFollowUps(createHandler({ ...config, KUBE_TOKEN: secrets.kubeToken }, log)),
    config,
    log,
    secrets,
    defer: (task) => {
      void task().catch((error: unknown) => log.error('deferred work failed', { error: String(error) }));
    },
  };
}
