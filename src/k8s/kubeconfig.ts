/**
 * Cluster access from configuration: which kubeconfig, and the EKS IAM token provider when the functions
 * authenticate with their AWS role. The wiring calls these; nothing else builds a KubeConfig.
 */
// client-node's module, not its index: the index loads every generated API and model (scripts/build.ts).
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import type { Config } from '../config.ts';
import { createEksTokenProvider, credentialsFromEnv } from './eks-token.ts';

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
export function eksBearerToken(config: Config, now: () => Date = () => new Date()): ((fresh?: boolean) => string) | undefined {
  const { EKS_CLUSTER_NAME: clusterName, AWS_REGION: region } = config;
  if (!clusterName) return undefined;
  if (!region) throw new Error('EKS_CLUSTER_NAME needs AWS_REGION');
  // Lambda's credentials are fixed for the life of the execution environment (the SDK's env provider reads them once too).
  return createEksTokenProvider({ region, clusterName, credentials: () => credentialsFromEnv(config), now });
}
