/**
 * The simulator's configuration: one schema, parsed once from the environment by main.ts (tests pass a literal).
 */
import * as z from 'zod';
import type { SimulatorOptions } from './simulator.ts';

const ms = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

export const SimulatorEnvSchema = z.object({
  /** Admin kubeconfig. Unset: `.local/kubeconfig` at the repo root (or under DAEMONLESS_LOCAL_DIR). */
  KUBECONFIG: z.string().min(1).optional(),
  DAEMONLESS_LOCAL_DIR: z.string().min(1).optional(),
  /** Delay between seeing a pod bound to a simulated node and reporting it Running and Ready. */
  SIM_READY_DELAY_MS: ms(500),
  /** Delay between seeing a pod Terminating on a simulated node and completing its deletion. */
  SIM_DELETE_DELAY_MS: ms(200),
  /**
   * Pods with any container image matching this regular expression never start (ImagePullBackOff). The default also
   * covers `…:non-existent`, the image upstream's e2e DaemonSet rollback spec expects never to become available.
   */
  SIM_BROKEN_IMAGE: z
    .string()
    .default('(:unready|non-existent)$')
    .transform((source, ctx) => {
      try {
        return new RegExp(source);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not a regular expression: ${(error as Error).message}` });
        return z.NEVER;
      }
    }),
  /**
   * How often each node Lease is renewed. Keep it ≤ 1/4 of kube-controller-manager's --node-monitor-grace-period
   * (kubelet: 10 s against 40 s); the local control plane runs with a long grace period so 1,000 nodes stay cheap.
   */
  SIM_LEASE_INTERVAL_MS: ms(15_000, 1000),
  /** spec.leaseDurationSeconds written on each Lease (informational for the node lifecycle controller). */
  SIM_LEASE_DURATION_S: ms(60, 1),
  /** API requests in flight at once (status writes, lease renewals, deletions). */
  SIM_CONCURRENCY: ms(16, 1),
  /** Period of the summary log line; 0 turns it off. */
  SIM_SUMMARY_INTERVAL_MS: ms(60_000),
  SIM_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export type SimulatorEnv = z.infer<typeof SimulatorEnvSchema>;

/** Throws one readable error naming every bad field. */
export function loadSimulatorEnv(env: Record<string, string | undefined>): SimulatorEnv {
  const result = SimulatorEnvSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid simulator configuration: ${problems}`);
  }
  return result.data;
}

/** The simulator's options from a parsed environment (the logger is the caller's). */
export function simulatorOptionsFromEnv(env: SimulatorEnv): Omit<SimulatorOptions, 'log'> {
  return {
    readyDelayMs: env.SIM_READY_DELAY_MS,
    deleteDelayMs: env.SIM_DELETE_DELAY_MS,
    broken: env.SIM_BROKEN_IMAGE,
    leaseIntervalMs: env.SIM_LEASE_INTERVAL_MS,
    leaseDurationSeconds: env.SIM_LEASE_DURATION_S,
    concurrency: env.SIM_CONCURRENCY,
    summaryIntervalMs: env.SIM_SUMMARY_INTERVAL_MS,
  };
}
