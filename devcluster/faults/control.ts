/**
 * Client of a fault proxy's control endpoint (a proxy running as its own process): read and replace its
 * configuration, read and reset its counters. For tests and reports.
 */
import type { FaultCounters } from './proxy.ts';
import type { FaultConfig, FaultConfigInput } from './rules.ts';

export class FaultControlError extends Error {
  override name = 'FaultControlError';
}

export interface FaultControl {
  config(): Promise<FaultConfig>;
  /** Rejects with the proxy's message (400) when the configuration is invalid. */
  setConfig(config: FaultConfigInput): Promise<FaultConfig>;
  counters(): Promise<FaultCounters>;
  resetCounters(): Promise<FaultCounters>;
}

export function faultControl(controlUrl: string): FaultControl {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(new URL(path, controlUrl), {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
      signal: AbortSignal.timeout(5_000),
    });
    const json = (await response.json()) as T & { error?: string };
    if (!response.ok) throw new FaultControlError(`${method} ${path}: ${response.status} ${json.error ?? ''}`);
    return json;
  };
  return {
    config: () => call('GET', '/config'),
    setConfig: (config) => call('PUT', '/config', config),
    counters: () => call('GET', '/counters'),
    resetCounters: () => call('POST', '/counters/reset'),
  };
}
