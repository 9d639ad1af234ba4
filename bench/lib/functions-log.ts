/**
 * The functions server's JSON-lines log (src/log.ts): one `request` line per HTTP request and one `reconciled` line per
 * handled batch, with `apiRequests` (as counted by the Kubernetes port). The bench reads the lines written during a
 * window, from a byte offset taken at its start.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

export interface FunctionsWindow {
  /** HTTP requests by route, e.g. audit → 12; each would be one Lambda invocation. */
  requestsByRoute: Record<string, number>;
  /** Duration of each audit request (ms), as the server measured it. */
  auditDurationsMs: number[];
  /** `reconciled` lines: calls of the reconciler. */
  reconciles: number;
  /** Sum of `apiRequests` over `reconciled` lines. */
  apiRequests: number;
  created: number;
  deleted: number;
  /**
   * Audit requests whose hints all name nodes (the node path: a node joined, changed or left) and the API requests
   * their handling made. The rest of `apiRequests` went to DaemonSet-wide work (hints naming a DaemonSet or a pod's
   * owner, and follow-ups such as status updates).
   */
  nodeHinted: { requests: number; apiRequests: number; created: number };
  /** Lines at level warn or error (write failures, retries given up). */
  problems: number;
  firstProblems: string[];
}

export function logOffset(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

export function readFunctionsWindow(file: string, fromOffset: number): FunctionsWindow {
  const size = logOffset(file);
  const window: FunctionsWindow = {
    requestsByRoute: {},
    auditDurationsMs: [],
    reconciles: 0,
    apiRequests: 0,
    nodeHinted: { requests: 0, apiRequests: 0, created: 0 },
    created: 0,
    deleted: 0,
    problems: 0,
    firstProblems: [],
  };
  if (size <= fromOffset) return window;
  const buffer = Buffer.alloc(size - fromOffset);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, fromOffset);
  } finally {
    closeSync(fd);
  }
  for (const line of buffer.toString('utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (entry['level'] === 'warn' || entry['level'] === 'error') {
      window.problems += 1;
      if (window.firstProblems.length < 5) window.firstProblems.push(line.slice(0, 400));
    }
    if (entry['msg'] === 'request') {
      const route = String(entry['route'] ?? 'none');
      window.requestsByRoute[route] = (window.requestsByRoute[route] ?? 0) + 1;
      if (route === 'audit' && typeof entry['durationMs'] === 'number') window.auditDurationsMs.push(entry['durationMs']);
      const keys = (entry['hints'] as { keys?: unknown } | undefined)?.keys;
      const result = entry['result'] as { apiRequests?: unknown; created?: unknown } | undefined;
      if (Array.isArray(keys) && keys.length > 0 && keys.every((k) => String(k).startsWith('node/')) && result) {
        window.nodeHinted.requests += 1;
        window.nodeHinted.apiRequests += Number(result.apiRequests ?? 0);
        window.nodeHinted.created += Number(result.created ?? 0);
      }
    } else if (entry['msg'] === 'reconciled') {
      window.reconciles += 1;
      window.apiRequests += Number(entry['apiRequests'] ?? 0);
      window.created += Number(entry['created'] ?? 0);
      window.deleted += Number(entry['deleted'] ?? 0);
    }
  }
  return window;
}
