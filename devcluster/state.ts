/**
 * `.local/state.json`: what `up` started (pids, command identities, ports, options). Written after each component
 * starts, so that `down` can clean up even after a failed or interrupted `up`.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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
});
export type ClusterState = z.infer<typeof ClusterStateSchema>;

export class StateError extends Error {
  override name = 'StateError';
}

export function readState(file: string): ClusterState | undefined {
  if (!existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new StateError(`${file}: ${(error as Error).message}`);
  }
  const parsed = ClusterStateSchema.safeParse(json);
  if (!parsed.success) throw new StateError(`${file} is not a state file this version understands: ${parsed.error.message}`);
  return parsed.data;
}

/** Write-then-rename, so a reader never sees half a file. */
export function writeState(file: string, state: ClusterState): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(ClusterStateSchema.parse(state), null, 2) + '\n');
  renameSync(tmp, file);
}
