/** Bundled by test/deploy/bundle.test.ts as the functions are: the kubeconfig and request path daemonless uses. */
import { HttpMethod, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import type { Config } from '../../../src/config.ts';
import { loadKubeConfig } from '../../../src/k8s/kubeconfig.ts';

const config = (token: string) => ({ KUBE_SERVER: 'https://127.0.0.1:6443', KUBE_TOKEN: token }) as Config;

/** The Authorization header client-node sets on a request for a token kubeconfig. */
export async function authorization(token: string): Promise<string | undefined> {
  const context = new RequestContext('https://127.0.0.1:6443/api/v1/nodes', HttpMethod.GET);
  await loadKubeConfig(config(token)).applySecurityAuthentication(context);
  return context.getHeaders().Authorization;
}

/** client-node's generated-API entry point, which the bundles leave out. */
export function makeApiClient(): unknown {
  return loadKubeConfig(config('t')).makeApiClient(class {} as never);
}
