/**
 * The functions' JSON-lines log (src/log.ts), in either runtime: one `request` line per HTTP request and one
 * `reconciled` line per handled batch, with `apiRequests` and `requests` by kind (as counted by the Kubernetes port);
 * in the Lambda runtime also one `platform.report` line per invocation (devcluster/lambda/function-pool.ts: billed
 * duration, cold start, memory) and the queue consumer's `queue batch reconciled` lines. The bench reads the lines
 * written during a window, from a byte offset taken at its start.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** Lambda runtime: the `platform.report` lines of one function. */
export interface FunctionReports {
  invocations: number;
  coldStarts: number;
  errors: number;
  durationMs: number;
  billedMs: number;
  /** Billed ms of the cold invocations (their duration includes the runtime's start and the import). */
  coldBilledMs: number;
  /** Highest peak RSS of one invocation (MB), and the memory configured. */
  peakRssMb: number;
  memorySizeMb: number;
}

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
  /** `requests` of the `reconciled` lines, summed by kind ("list pods", "create pod", …). */
  requestsByKind: Record<string, number>;
  /** Lambda runtime: `platform.report` lines by function key. */
  reports: Record<string, FunctionReports>;
  /** Lambda runtime: the queue consumer's batches and the records in them. */
  queueBatches: { batches: number; records: number };
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

export function emptyFunctionsWindow(): FunctionsWindow {
  return {
    requestsByRoute: {},
    auditDurationsMs: [],
    reconciles: 0,
    apiRequests: 0,
    nodeHinted: { requests: 0, apiRequests: 0, created: 0 },
    requestsByKind: {},
    reports: {},
    queueBatches: { batches: 0, records: 0 },
    created: 0,
    deleted: 0,
    problems: 0,
    firstProblems: [],
  };
}

export function readFunctionsWindow(file: string, fromOffset: number): FunctionsWindow {
  const size = logOffset(file);
  const window = emptyFunctionsWindow();
  if (size <= fromOffset) return window;
  const buffer = Buffer.alloc(size - fromOffset);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, fromOffset);
  } finally {
    closeSync(fd);
  }
  for (const line of buffer.toString('utf8').split('\n')) readLine(window, line);
  return window;
}

/** Adds one log line to the window. Pure (but for the window it fills). */
export function readLine(window: FunctionsWindow, line: string): void {
  if (!line.startsWith('{')) return;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return;
  }
  if (entry['type'] === 'platform.report') {
    readReport(window, entry);
    return;
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
    const byKind = entry['requests'];
    if (byKind && typeof byKind === 'object') {
      for (const [kind, n] of Object.entries(byKind as Record<string, unknown>)) {
        if (typeof n === 'number') window.requestsByKind[kind] = (window.requestsByKind[kind] ?? 0) + n;
      }
    }
  } else if (entry['msg'] === 'queue batch reconciled') {
    window.queueBatches.batches += 1;
    window.queueBatches.records += Number(entry['records'] ?? 0);
  }
}

function readReport(window: FunctionsWindow, entry: Record<string, unknown>): void {
  const record = (entry['record'] ?? {}) as { metrics?: Record<string, unknown>; status?: unknown };
  const local = (entry['local'] ?? {}) as Record<string, unknown>;
  const metrics = record.metrics ?? {};
  const key = String(local['function'] ?? entry['functionName'] ?? 'unknown');
  const r = (window.reports[key] ??= {
    invocations: 0,
    coldStarts: 0,
    errors: 0,
    durationMs: 0,
    billedMs: 0,
    coldBilledMs: 0,
    peakRssMb: 0,
    memorySizeMb: 0,
  });
  const billed = Number(metrics['billedDurationMs'] ?? 0);
  r.invocations += 1;
  r.durationMs += Number(metrics['durationMs'] ?? 0);
  r.billedMs += billed;
  if (local['coldStart'] === true) {
    r.coldStarts += 1;
    r.coldBilledMs += billed;
  }
  if (record.status !== 'success') r.errors += 1;
  r.peakRssMb = Math.max(r.peakRssMb, Number(local['invocationPeakRssMB'] ?? metrics['maxMemoryUsedMB'] ?? 0));
  r.memorySizeMb = Number(metrics['memorySizeMB'] ?? r.memorySizeMb);
}
