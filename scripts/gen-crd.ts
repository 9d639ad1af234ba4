/**
 * `npm run gen:crd`: regenerates infra/crd-serverlessdaemonset.json from the running local API server's OpenAPI
 * schema of apps/v1 DaemonSet (devcluster/crd.ts). Run it after changing the pinned Kubernetes version; the
 * integration suite fails while the committed CRD differs from what this would write.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { crdFromCluster, crdFile } from '../devcluster/crd-install.ts';
import { localPaths } from '../devcluster/paths.ts';

const kc = new KubeConfig();
kc.loadFromFile(localPaths().kubeconfig);
const crd = await crdFromCluster(kc);
writeFileSync(crdFile, `${JSON.stringify(crd, null, 1)}\n`);
process.stdout.write(`wrote ${join('infra', 'crd-serverlessdaemonset.json')}\n`);
