/**
 * Secrets at cold start, through the ParameterStore port with a recording fake, and the SSM adapter against a
 * recording stand-in of the SDK's shape. No real SSM (nor KMS, nor the runtime's SDK) is exercised here: what is checked
 * is what daemonless asks for and what it does with the answers.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createSsmParameterStore, loadSecrets, SecretsError, type ParameterStore, type SsmSdk } from '../src/secrets.ts';
import { recordingLogger } from './http/support.ts';

const token = 'bearer-token-0123456789abcdef';
const next = 'bearer-token-next-0123456789';
const pathSecret = 'admission-path-0123456789abcdef';
const kubeToken = 'eyJhbGciOiJSUzI1NiJ9.kube-token';

/** A Parameter Store holding `parameters`, recording every call. */
function fakeStore(parameters: Record<string, string>, fail?: Error) {
  const calls: string[][] = [];
  const store: ParameterStore = {
    async getParameters(names) {
      calls.push([...names]);
      if (fail) throw fail;
      const values = new Map(names.filter((n) => n in parameters).map((n) => [n, parameters[n]!]));
      return { values, missing: names.filter((n) => !(n in parameters)) };
    },
  };
  return { store, calls };
}

const params = {
  BEARER_TOKEN_PARAMETER: '/daemonless/dev/bearer-token',
  ADMISSION_PATH_SECRET_PARAMETER: '/daemonless/dev/admission-path-secret',
};

describe('loadSecrets', () => {
  it('reads every named parameter in one call and splits lists (rotation)', async () => {
    const { store, calls } = fakeStore({
      '/daemonless/dev/bearer-token': `${token},${next}`,
      '/daemonless/dev/admission-path-secret': pathSecret,
      '/daemonless/dev/kube-token': `${kubeToken}\n`,
    });
    const config = loadConfig({ ...params, KUBE_SERVER: 'https://10.0.0.1', KUBE_TOKEN_PARAMETER: '/daemonless/dev/kube-token' });
    const secrets = await loadSecrets(config, store, recordingLogger().log);
    expect(calls).toEqual([['/daemonless/dev/bearer-token', '/daemonless/dev/admission-path-secret', '/daemonless/dev/kube-token']]);
    expect(secrets).toEqual({ bearerTokens: [token, next], admissionPathSecrets: [pathSecret], kubeToken });
  });

  it('values given directly (local runs) never touch the store', async () => {
    const { store, calls } = fakeStore({});
    const config = loadConfig({ BEARER_TOKEN: token, ADMISSION_PATH_SECRET: pathSecret });
    expect(await loadSecrets(config, store, recordingLogger().log)).toEqual({
      bearerTokens: [token],
      admissionPathSecrets: [pathSecret],
      kubeToken: undefined,
    });
    expect(calls).toEqual([]);
  });

  it('nothing configured: empty (the routes then refuse to start, src/http/auth.ts)', async () => {
    const { store, calls } = fakeStore({});
    expect(await loadSecrets(loadConfig({}), store, recordingLogger().log)).toEqual({
      bearerTokens: [],
      admissionPathSecrets: [],
      kubeToken: undefined,
    });
    expect(calls).toEqual([]);
  });

  it('a missing parameter fails the cold start, naming the setting and the parameter', async () => {
    const { store } = fakeStore({ '/daemonless/dev/bearer-token': token });
    const error = await loadSecrets(loadConfig(params), store, recordingLogger().log).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretsError);
    expect((error as Error).message).toBe(
      'ADMISSION_PATH_SECRET_PARAMETER: SSM parameter /daemonless/dev/admission-path-secret does not exist',
    );
  });

  it('a failing call (no permission, no network) fails the cold start, naming the parameters', async () => {
    const denied = Object.assign(new Error('User: arn:aws:sts::1:assumed-role/r is not authorized to perform: ssm:GetParameters'), {
      name: 'AccessDeniedException',
    });
    const { store } = fakeStore({}, denied);
    await expect(loadSecrets(loadConfig(params), store, recordingLogger().log)).rejects.toThrow(
      /^cannot read SSM parameters \/daemonless\/dev\/bearer-token, \/daemonless\/dev\/admission-path-secret: AccessDeniedException: User/,
    );
  });

  it.each([
    ['a short token', 'BEARER_TOKEN_PARAMETER', 'short-sekrit', /BEARER_TOKEN_PARAMETER: SSM parameter \/p: BEARER_TOKEN must be at least 16 characters/],
    ['an empty list', 'BEARER_TOKEN_PARAMETER', ' , ', /BEARER_TOKEN_PARAMETER: SSM parameter \/p: BEARER_TOKEN holds no secret/],
    ['a path secret with a slash', 'ADMISSION_PATH_SECRET_PARAMETER', 'sekrit/0123456789abcdef', /ADMISSION_PATH_SECRET_PARAMETER: SSM parameter \/p: ADMISSION_PATH_SECRET: a path secret is/],
    ['an empty kube token', 'KUBE_TOKEN_PARAMETER', '  ', /KUBE_TOKEN_PARAMETER: SSM parameter \/p is empty/],
    // The API server reads a bearer token up to the first space; a line break cannot be sent at all.
    ['a kube token with a line break inside', 'KUBE_TOKEN_PARAMETER', 'eyJhbGciOi\nJSUzI1NiJ9', /KUBE_TOKEN_PARAMETER: SSM parameter \/p: a token is printable ASCII without spaces/],
  ])('an invalid value (%s) fails, without the value in the message', async (_name, setting, value, message) => {
    const { store } = fakeStore({ '/p': value });
    const config = loadConfig({ [setting]: '/p', ...(setting === 'KUBE_TOKEN_PARAMETER' ? { KUBE_SERVER: 'https://10.0.0.1' } : {}) });
    const error = (await loadSecrets(config, store, recordingLogger().log).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(SecretsError);
    expect(error.message).toMatch(message);
    const shown = value.split(',')[0]!.trim();
    if (shown !== '') expect(error.message).not.toContain(shown);
  });

  it('logs where each secret came from and how many there are, never a value', async () => {
    const { store } = fakeStore({ '/daemonless/dev/bearer-token': `${token},${next}` });
    const logs = recordingLogger();
    await loadSecrets(loadConfig({ BEARER_TOKEN_PARAMETER: params.BEARER_TOKEN_PARAMETER, ADMISSION_PATH_SECRET: pathSecret }), store, logs.log);
    expect(logs.entries()).toEqual([
      expect.objectContaining({
        msg: 'secrets loaded',
        bearerTokens: { count: 2, from: 'ssm:/daemonless/dev/bearer-token' },
        admissionPathSecrets: { count: 1, from: 'environment' },
        kubeToken: { count: 0, from: 'none' },
      }),
    ]);
    for (const secret of [token, next, pathSecret]) expect(logs.lines.join('\n')).not.toContain(secret);
  });
});

describe('createSsmParameterStore (the runtime SDK, stood in by a recording fake of its shape)', () => {
  function fakeSdk(parameters: { Name: string; Value: string; ARN?: string; Selector?: string }[]) {
    const sent: { Names: string[]; WithDecryption: boolean }[] = [];
    let clients = 0;
    let loads = 0;
    const sdk: SsmSdk = {
      SSMClient: class {
        constructor() {
          clients += 1;
        }
        async send(command: unknown) {
          const input = (command as { input: { Names: string[]; WithDecryption: boolean } }).input;
          sent.push(input);
          const found = parameters.filter((p) => input.Names.some((n) => n === p.Name || n === p.ARN || n === `${p.Name}${p.Selector}`));
          return { Parameters: found, InvalidParameters: input.Names.filter((n) => !found.some((p) => [p.Name, p.ARN, `${p.Name}${p.Selector}`].includes(n))) };
        }
      },
      GetParametersCommand: class {
        readonly input: { Names: string[]; WithDecryption: boolean };
        constructor(input: { Names: string[]; WithDecryption: boolean }) {
          this.input = input;
        }
      },
    };
    const load = () => {
      loads += 1;
      return sdk;
    };
    return { load, sent, counts: () => ({ clients, loads }) };
  }

  it('asks for decrypted values, at most 10 names per call, and loads the SDK once, on first use', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `/p/${i}`);
    const sdk = fakeSdk(names.map((Name, i) => ({ Name, Value: `v${i}` })));
    const store = createSsmParameterStore(sdk.load);
    expect(sdk.counts()).toEqual({ clients: 0, loads: 0 });
    const { values, missing } = await store.getParameters([...names, '/absent']);
    expect(sdk.sent.map((s) => [s.Names.length, s.WithDecryption])).toEqual([
      [10, true],
      [3, true],
    ]);
    expect(values.get('/p/11')).toBe('v11');
    expect(missing).toEqual(['/absent']);
    await store.getParameters(['/p/0']);
    expect(sdk.counts()).toEqual({ clients: 1, loads: 1 });
  });

  it('finds parameters asked for by ARN or with a version selector (SSM answers with the plain name)', async () => {
    const arn = 'arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/daemonless/prod/bearer-token';
    const sdk = fakeSdk([
      { Name: '/daemonless/prod/bearer-token', ARN: arn, Value: 'by-arn' },
      { Name: '/daemonless/prod/admission', Selector: ':3', Value: 'by-version' },
    ]);
    const { values, missing } = await createSsmParameterStore(sdk.load).getParameters([arn, '/daemonless/prod/admission:3']);
    expect(Object.fromEntries(values)).toEqual({ [arn]: 'by-arn', '/daemonless/prod/admission:3': 'by-version' });
    expect(missing).toEqual([]);
  });

  // A function in a VPC without a route to SSM: the connection is black-holed, and the SDK sets no timeout of its own.
  it('a call that gets no answer fails within its timeout, naming it, instead of holding the cold start until Lambda kills it', async () => {
    const signals: (AbortSignal | undefined)[] = [];
    const sdk: SsmSdk = {
      SSMClient: class {
        send(_command: unknown, options?: { abortSignal?: AbortSignal }) {
          signals.push(options?.abortSignal);
          // Like the SDK: rejects with the signal's reason when it aborts; otherwise never answers.
          return new Promise<never>((_resolve, reject) => options?.abortSignal?.addEventListener('abort', () => reject(options.abortSignal?.reason)));
        }
      },
      GetParametersCommand: class {},
    };
    const store = createSsmParameterStore(() => sdk, { timeoutMs: 50 });
    await expect(loadSecrets(loadConfig(params), store, recordingLogger().log)).rejects.toThrow(
      /^cannot read SSM parameters \/daemonless\/dev\/bearer-token, \/daemonless\/dev\/admission-path-secret: .*no answer within 50 ms/,
    );
    expect(signals).toHaveLength(1);
  }, 2_000);

  it('without the runtime SDK (a local process that names a parameter) the load error surfaces', async () => {
    const store = createSsmParameterStore(() => {
      throw new Error("Cannot find module '@aws-sdk/client-ssm'");
    });
    await expect(store.getParameters(['/p'])).rejects.toThrow("Cannot find module '@aws-sdk/client-ssm'");
  });
});
