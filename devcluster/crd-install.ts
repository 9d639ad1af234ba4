/** The ServerlessDaemonSet CRD on a local cluster: generated from its OpenAPI schema, installed, established. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { createTransport } from '../src/k8s/transport.ts';
import { serverlessDaemonSetCrd, structuralSchema } from './crd.ts';
import { repoRoot } from './paths.ts';

export const crdFile = join(repoRoot, 'infra', 'crd-serverlessdaemonset.json');
export const CRD_NAME = 'serverlessdaemonsets.daemonless.dev';

/** The CRD this cluster's apps/v1 schema gives. */
export async function crdFromCluster(kc: KubeConfig): Promise<Record<string, unknown>> {
  const openapi = await createTransport(kc, { requestTimeoutMs: 30_000 }).send<{ components?: { schemas?: Record<string, Record<string, unknown>> } }>({
    method: 'GET',
    path: 'openapi/v3/apis/apps/v1',
    what: 'get the apps/v1 OpenAPI schema',
  });
  return serverlessDaemonSetCrd(structuralSchema(openapi, 'io.k8s.api.apps.v1.DaemonSetSpec'), structuralSchema(openapi, 'io.k8s.api.apps.v1.DaemonSetStatus'));
}

/**
 * Applies the committed CRD (server-side apply, as `kubectl apply --server-side` does) and waits until it is
 * Established (its API is served). Raw JSON: client-node's typed CRD model loses schema fields (anyOf).
 */
export async function installCrd(kc: KubeConfig, timeoutMs = 30_000): Promise<void> {
  const transport = createTransport(kc, { requestTimeoutMs: 30_000 });
  const path = `apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`;
  await transport.send({
    method: 'PATCH',
    path,
    query: { fieldManager: 'daemonless-devcluster', force: 'true' },
    contentType: 'application/apply-patch+yaml',
    body: readFileSync(crdFile, 'utf8'),
    what: 'apply the ServerlessDaemonSet CRD',
  });
  const end = Date.now() + timeoutMs;
  for (;;) {
    const current = await transport.send<{ status?: { conditions?: { type: string; status: string }[] } }>({ method: 'GET', path, what: 'get the CRD' });
    if (current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    if (Date.now() > end) throw new Error(`CRD ${CRD_NAME} not Established within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
