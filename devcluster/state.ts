/**
 * `.local/state.json`: what `up` started (pids, command identities, ports, options, restarts). Written after each
 * component starts, so that `down` can clean up even after a failed or interrupted `up`.
 *
 * `.local/run/<name>.launch.json`: how to start again a process started beside the control plane (the functions server, the
 * fault proxy), so `cluster:restart` and `up` can restart it with the same command and environment, and `down` stops it.
 */
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { NormalizedOptionsSchema } from './options.ts';

const ComponentStateSchema = z.object({
  name: z.enum(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'simulator']),
  pid: z.number().int().positive(),
  identity: z.array(z.string()),
  stopGraceMs: z.number(),
  port: z.number().nullable(),
  log: z.string(),
});
export type ComponentState = z.infer<typeof ComponentStateSchema>;

export const ClusterStateSchema = z.object({
  version: z.literal(1),
  localDir: z.string(),
  binDir: z.string(),
  server: z.string(),
  ports: z.object({
    apiserver: z.number(),
    etcdClient: z.number(),
    etcdPeer: z.number(),
    scheduler: z.number(),
    controllerManager: z.number(),
  }),
  options: NormalizedOptionsSchema,
  components: z.array(ComponentStateSchema),
  startedAt: z.string(),
  /** Null until `up` finished; a state with `readyAt: null` is a cluster whose `up` did not complete. */
  readyAt: z.string().nullable(),
  readySeconds: z.number().nullable(),
  /** Every component restarted since the first `up` (by `up` or `cluster:restart`), oldest first. */
  restarts: z
    .array(z.object({ name: z.string(), at: z.string(), reason: z.string(), previousPid: z.number().nullable(), pid: z.number() }))
    .default([]),
});
export type ClusterState = z.infer<typeof ClusterStateSchema>;

export class StateError extends Error {
  override name = 'StateError';
}

export function readState(file: string): ClusterState | undefined {
  return readJsonFile(file, ClusterStateSchema, (error) => ` is not a state file this version understands: ${error.message}`);
}

/** The parsed file, or undefined when it does not exist; a file that is not JSON or not `schema` is a StateError. */
function readJsonFile<S extends z.ZodType>(file: string, schema: S, problem: (error: z.ZodError) => string): z.output<S> | undefined {
  if (!existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new StateError(`${file}: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new StateError(`${file}${problem(parsed.error)}`);
  return parsed.data;
}

/** Write-then-rename, so a reader never sees half a file. */
export function writeState(file: string, state: ClusterState): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(ClusterStateSchema.parse(state), null, 2) + '\n');
  renameSync(tmp, file);
}

/**
 * A process started beside the control plane. Its environment is the explicit variables below on top of the
 * environment of whoever (re)starts it; secrets are not copied here but named by the file that holds them.
 */
export const TrackedLaunchSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/),
  command: z.string(),
  args: z.array(z.string()),
  cwd: z.string().optional(),
  env: z.record(z.string(), z.string()),
  /** Variable → file whose trimmed content is its value (e.g. BEARER_TOKEN → functions.token, mode 0600). */
  envFiles: z.record(z.string(), z.string()).default({}),
  /** Substrings of the command line, or `env:NAME=value` entries, that identify the process behind its pid. */
  identity: z.array(z.string()).min(1),
  stopGraceMs: z.number().int().positive(),
  /** GET answering 2xx when the process is healthy. */
  healthUrl: z.string().optional(),
  log: z.string(),
  pidFile: z.string(),
});
export type TrackedLaunch = z.input<typeof TrackedLaunchSchema>;
export type ParsedTrackedLaunch = z.infer<typeof TrackedLaunchSchema>;

/** Where the record of the tracked process `name` lives in a run folder. */
export function launchFile(runDir: string, name: string): string {
  return join(runDir, `${name}${launchSuffix}`);
}
export const launchSuffix = '.launch.json';

export function readLaunch(file: string): ParsedTrackedLaunch | undefined {
  return readJsonFile(file, TrackedLaunchSchema, (error) => `: ${error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
}

export function writeLaunch(file: string, launch: TrackedLaunch): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(TrackedLaunchSchema.parse(launch), null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
