/**
 * The local system's own secrets, created once in its folder and kept there (0600): the bearer token the audit
 * webhook and the functions share, and the admission route's path secret. Both runtimes (the server and the local
 * Lambda runtime, which reads them from its parameter store) use the same ones.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalPaths } from './paths.ts';

export function localSecret(paths: LocalPaths, name: string): string {
  const file = join(paths.root, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(paths.root, { recursive: true });
  const value = randomBytes(24).toString('base64url');
  writeFileSync(file, value, { mode: 0o600 });
  return value;
}

export const functionsTokenFile = 'functions.token';
export const admissionSecretFile = 'functions.admission-secret';

/** The bearer token shared by the audit webhook kubeconfig and the functions. */
export const functionsToken = (paths: LocalPaths): string => localSecret(paths, functionsTokenFile);

/** The admission route's path secret: the functions require it, the ValidatingWebhookConfiguration's URL ends with it. */
export const admissionSecret = (paths: LocalPaths): string => localSecret(paths, admissionSecretFile);
