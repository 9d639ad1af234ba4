/**
 * The local control plane's PKI: one CA that signs everything (API server serving cert, the client certs of every
 * identity, the serving cert of our local HTTPS webhook server) and the service-account signing key pair.
 *
 * Keys come from node:crypto (ECDSA P-256: fast to generate, accepted by every component); certificates from the
 * `openssl` command, because node:crypto can read X.509 but not issue it. The PKI survives `down` so a webhook server
 * that already trusts `ca.crt` keeps working across restarts; it is regenerated when a file is missing or a
 * certificate is about to expire.
 */
import { execFile } from 'node:child_process';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Paths of a certificate and its private key (PEM). */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface Pki {
  readonly dir: string;
  readonly ca: CertFiles;
  readonly apiserver: CertFiles;
  readonly admin: CertFiles;
  readonly controllerManager: CertFiles;
  readonly scheduler: CertFiles;
  readonly reconciler: CertFiles;
  /** Serving cert for 127.0.0.1/localhost: our local HTTPS webhook endpoint, trusted through `ca.crt`. */
  readonly webhook: CertFiles;
  readonly serviceAccount: { readonly privateKey: string; readonly publicKey: string };
}

export class PkiError extends Error {
  override name = 'PkiError';
}

/** The first address of the service CIDR the API server is started with; the `kubernetes` Service gets it. */
export const kubernetesServiceIp = '10.96.0.1';
export const serviceClusterIpRange = '10.96.0.0/16';

interface LeafSpec {
  readonly file: string;
  readonly subject: string;
  readonly usage: 'serverAuth' | 'clientAuth';
  readonly sans?: readonly string[];
}

// Client identities: Kubernetes takes the user from CN and the groups from O.
const leaves = {
  apiserver: {
    file: 'apiserver',
    subject: '/CN=kube-apiserver',
    usage: 'serverAuth',
    sans: [
      'IP:127.0.0.1',
      `IP:${kubernetesServiceIp}`,
      'DNS:localhost',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
    ],
  },
  admin: { file: 'admin', subject: '/O=system:masters/CN=daemonless-admin', usage: 'clientAuth' },
  // The bootstrap RBAC policy binds these exact user names to the controllers' and scheduler's roles.
  controllerManager: { file: 'kube-controller-manager', subject: '/CN=system:kube-controller-manager', usage: 'clientAuth' },
  scheduler: { file: 'kube-scheduler', subject: '/CN=system:kube-scheduler', usage: 'clientAuth' },
  // No group: everything it may do comes from infra/rbac.yaml, so the tests prove that ClusterRole is sufficient.
  reconciler: { file: 'reconciler', subject: '/CN=daemonless-reconciler', usage: 'clientAuth' },
  webhook: { file: 'webhook', subject: '/CN=daemonless-webhook', usage: 'serverAuth', sans: ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost'] },
} as const satisfies Record<string, LeafSpec>;

type LeafName = keyof typeof leaves;

/** Renew a certificate this long before it expires, so a long-lived `.local` never serves an expired one. */
const renewBeforeMs = 30 * 24 * 3600 * 1000;

export function pkiLayout(dir: string): Pki {
  const pair = (name: string): CertFiles => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  const files = Object.fromEntries(Object.entries(leaves).map(([k, spec]) => [k, pair(spec.file)])) as Record<LeafName, CertFiles>;
  return {
    dir,
    ca: pair('ca'),
    ...files,
    serviceAccount: { privateKey: join(dir, 'sa.key'), publicKey: join(dir, 'sa.pub') },
  };
}

/**
 * Returns the PKI in `dir`, generating it when absent, incomplete or near expiry. Generation happens in a sibling
 * folder that is renamed into place, so an interrupted run never leaves a half-made PKI that looks complete.
 */
export async function ensurePki(dir: string, now = new Date()): Promise<{ pki: Pki; generated: boolean }> {
  const pki = pkiLayout(dir);
  if (isUsable(pki, now)) return { pki, generated: false };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  try {
    await generate(pkiLayout(tmp));
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  return { pki, generated: true };
}

function isUsable(pki: Pki, now: Date): boolean {
  const certs = [pki.ca, ...Object.keys(leaves).map((k) => pki[k as LeafName])];
  const keys = [pki.serviceAccount.privateKey, pki.serviceAccount.publicKey, ...certs.map((c) => c.key)];
  if (![...keys, ...certs.map((c) => c.cert)].every((f) => existsSync(f))) return false;
  try {
    const ca = new X509Certificate(readFileSync(pki.ca.cert));
    return certs.every(({ cert }) => {
      const x = new X509Certificate(readFileSync(cert));
      return x.verify(ca.publicKey) && Date.parse(x.validTo) - now.getTime() > renewBeforeMs;
    });
  } catch {
    return false;
  }
}

function writeKey(path: string): void {
  const { privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  writeFileSync(path, privateKey, { mode: 0o600 });
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? String(error);
    throw new PkiError(`openssl ${args[0]} failed: ${stderr.trim()}`);
  }
}

async function generate(pki: Pki): Promise<void> {
  writeKey(pki.ca.key);
  await openssl([
    'req', '-x509', '-new', '-key', pki.ca.key, '-subj', '/CN=daemonless-local-ca', '-days', '3650', '-out', pki.ca.cert,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await Promise.all(
    (Object.keys(leaves) as LeafName[]).map(async (name) => {
      const spec: LeafSpec = leaves[name];
      const files = pki[name];
      writeKey(files.key);
      await openssl([
        'req', '-x509', '-new', '-key', files.key, '-CA', pki.ca.cert, '-CAkey', pki.ca.key, '-subj', spec.subject,
        '-days', '365', '-out', files.cert,
        '-addext', 'basicConstraints=critical,CA:FALSE',
        '-addext', 'keyUsage=critical,digitalSignature',
        '-addext', `extendedKeyUsage=${spec.usage}`,
        ...(spec.sans ? ['-addext', `subjectAltName=${spec.sans.join(',')}`] : []),
      ]);
    }),
  );
  const sa = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  writeFileSync(pki.serviceAccount.privateKey, sa.privateKey, { mode: 0o600 });
  writeFileSync(pki.serviceAccount.publicKey, sa.publicKey);
}
