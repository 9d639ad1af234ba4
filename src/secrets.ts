/**
 * Secrets at run time. A deployment names SSM parameters (SecureString) in its environment — BEARER_TOKEN_PARAMETER,
 * ADMISSION_PATH_SECRET_PARAMETER, KUBE_TOKEN_PARAMETER — and each function reads the values once, at cold start,
 * through the AWS SDK v3 the nodejs22.x runtime provides. Nothing is resolved into the CloudFormation template, the
 * deployment bucket or the function's configuration; the values live in the execution environment's memory only, for
 * its lifetime (cached per instance: a rotated value reaches an instance when it next starts cold).
 *
 * A Secrets Manager secret is read the same way, through its Parameter Store reference
 * (`/aws/reference/secretsmanager/<secret-id>`), which GetParameters accepts.
 *
 * Local runs give the values themselves (BEARER_TOKEN, ADMISSION_PATH_SECRET, KUBE_TOKEN) and never load the SDK.
 * Values are never logged, and no error message here contains one.
 */
import { createRequire } from 'node:module';
import type * as z from './zod.ts';
import { AWS_CALL_TIMEOUT_MS, callWithin } from './aws-call.ts';
import { AdmissionPathSecretsSchema, BearerTokensSchema, TOKEN_PATTERN, TOKEN_PATTERN_MESSAGE, type Config } from './config.ts';
import type { Logger } from './log.ts';

/** What the HTTP routes check (src/http/auth.ts). Empty: not configured. */
export interface RouteSecrets {
  /** Accepted on every event route but admission; several while one is rotated. */
  bearerTokens: readonly string[];
  /** Accepted as the admission route's last path segment; several while one is rotated. */
  admissionPathSecrets: readonly string[];
}

export interface Secrets extends RouteSecrets {
  /** A static API server token (opt-in; EKS IAM authentication needs none). */
  kubeToken: string | undefined;
}

/** The port to Parameter Store: values by name, decrypted. Unit tests pass a recording fake. */
export interface ParameterStore {
  /** Resolves with the value of each name that exists and the names that do not; rejects when the call fails. */
  getParameters(names: readonly string[]): Promise<{ values: ReadonlyMap<string, string>; missing: readonly string[] }>;
}

/** A secret cannot be had: the cold start fails with this, naming the setting (never a value). */
export class SecretsError extends Error {
  override name = 'SecretsError';
}

type ParameterSetting = 'BEARER_TOKEN_PARAMETER' | 'ADMISSION_PATH_SECRET_PARAMETER' | 'KUBE_TOKEN_PARAMETER';

/**
 * The secrets `config` gives or names. Parameters are read in one call (when any are named); a parameter that does
 * not exist, or a value that is not a valid secret, fails with a `SecretsError` naming the setting and the parameter.
 */
export async function loadSecrets(config: Config, store: ParameterStore, log: Logger): Promise<Secrets> {
  const named = (['BEARER_TOKEN_PARAMETER', 'ADMISSION_PATH_SECRET_PARAMETER', 'KUBE_TOKEN_PARAMETER'] as const).flatMap(
    (setting) => (config[setting] ? [{ setting, name: config[setting] }] : []),
  );
  const values = new Map<ParameterSetting, string>();
  if (named.length > 0) {
    const names = [...new Set(named.map((p) => p.name))];
    let fetched: Awaited<ReturnType<ParameterStore['getParameters']>>;
    try {
      fetched = await store.getParameters(names);
    } catch (error) {
      throw new SecretsError(`cannot read SSM parameters ${names.join(', ')}: ${errorText(error)}`, { cause: error });
    }
    for (const { setting, name } of named) {
      const value = fetched.values.get(name);
      if (value === undefined) throw new SecretsError(`${setting}: SSM parameter ${name} does not exist`);
      values.set(setting, value);
    }
  }

  const parsed = <S extends z.ZodMiniType<readonly string[], string>>(setting: ParameterSetting, schema: S) => {
    const value = values.get(setting);
    if (value === undefined) return undefined;
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    const problems = result.error.issues.map((i) => i.message).join('; ');
    throw new SecretsError(`${setting}: SSM parameter ${config[setting]}: ${problems}`);
  };
  const kubeToken = values.get('KUBE_TOKEN_PARAMETER')?.trim();
  if (kubeToken === '') throw new SecretsError(`KUBE_TOKEN_PARAMETER: SSM parameter ${config.KUBE_TOKEN_PARAMETER} is empty`);
  if (kubeToken !== undefined && !TOKEN_PATTERN.test(kubeToken)) {
    throw new SecretsError(`KUBE_TOKEN_PARAMETER: SSM parameter ${config.KUBE_TOKEN_PARAMETER}: ${TOKEN_PATTERN_MESSAGE}`);
  }

  const secrets: Secrets = {
    bearerTokens: config.BEARER_TOKEN ?? parsed('BEARER_TOKEN_PARAMETER', BearerTokensSchema) ?? [],
    admissionPathSecrets: config.ADMISSION_PATH_SECRET ?? parsed('ADMISSION_PATH_SECRET_PARAMETER', AdmissionPathSecretsSchema) ?? [],
    kubeToken: config.KUBE_TOKEN ?? kubeToken,
  };
  // Where each secret came from and how many there are: enough to debug a rotation, nothing to leak.
  log.info('secrets loaded', {
    bearerTokens: { count: secrets.bearerTokens.length, from: source(config.BEARER_TOKEN, config.BEARER_TOKEN_PARAMETER) },
    admissionPathSecrets: {
      count: secrets.admissionPathSecrets.length,
      from: source(config.ADMISSION_PATH_SECRET, config.ADMISSION_PATH_SECRET_PARAMETER),
    },
    kubeToken: { count: secrets.kubeToken === undefined ? 0 : 1, from: source(config.KUBE_TOKEN, config.KUBE_TOKEN_PARAMETER) },
  });
  return secrets;
}

function source(value: unknown, parameter: string | undefined): string {
  if (value !== undefined) return 'environment';
  return parameter === undefined ? 'none' : `ssm:${parameter}`;
}

/** An AWS SDK error's name and message (they name the parameter or the role, never a value). */
function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The slice of `@aws-sdk/client-ssm` used here. */
export interface SsmSdk {
  SSMClient: new (config: object) => { send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<GetParametersOutput> };
  GetParametersCommand: new (input: { Names: string[]; WithDecryption: boolean }) => unknown;
}

interface GetParametersOutput {
  Parameters?: { Name?: string; Value?: string; ARN?: string; Selector?: string }[];
  InvalidParameters?: string[];
}

/** GetParameters takes at most 10 names per call. */
const batchSize = 10;

/** The longest one GetParameters call may take (src/aws-call.ts). */
export const SSM_TIMEOUT_MS = AWS_CALL_TIMEOUT_MS;

/**
 * Parameter Store through the runtime's SDK (on NODE_PATH, which only `require` honours, hence createRequire; the
 * bundle marks `@aws-sdk/*` external, as for the admission function's self-invoke in src/http/lambda.ts). The SDK is
 * loaded on the first call only: a process that names no parameter never needs it.
 */
export function createSsmParameterStore(
  loadSdk: () => SsmSdk = () => createRequire(import.meta.url)('@aws-sdk/client-ssm') as SsmSdk,
  { timeoutMs = SSM_TIMEOUT_MS }: { timeoutMs?: number } = {},
): ParameterStore {
  let loaded: { sdk: SsmSdk; client: InstanceType<SsmSdk['SSMClient']> } | undefined;
  return {
    async getParameters(names) {
      if (!loaded) {
        const sdk = loadSdk();
        loaded = { sdk, client: new sdk.SSMClient({}) };
      }
      const { sdk, client } = loaded;
      const values = new Map<string, string>();
      const missing: string[] = [];
      for (let i = 0; i < names.length; i += batchSize) {
        const batch = names.slice(i, i + batchSize);
        const command = new sdk.GetParametersCommand({ Names: batch, WithDecryption: true });
        const output = await callWithin('GetParameters', timeoutMs, (abortSignal) => client.send(command, { abortSignal }));
        // A parameter asked for by ARN or with a `:version` selector comes back under its plain name.
        const byKey = new Map<string, string>();
        for (const p of output.Parameters ?? []) {
          if (p.Value === undefined) continue;
          for (const key of [p.Name, p.ARN].filter((k) => k !== undefined)) {
            byKey.set(key, p.Value);
            if (p.Selector) byKey.set(`${key}${p.Selector}`, p.Value);
          }
        }
        for (const name of batch) {
          const value = byKey.get(name);
          if (value === undefined) missing.push(name);
          else values.set(name, value);
        }
      }
      return { values, missing };
    },
  };
}
