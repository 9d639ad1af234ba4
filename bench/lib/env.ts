/**
 * The benchmark's own corner of the machine: a local folder and ports no other control plane on this machine uses
 * (the shared `.local` one, a lead's, a test's). Set before anything reads them; an explicit environment wins, so two
 * benchmark runs can still be separated by hand. All ports sit below Linux's ephemeral range (32768–60999): a port in
 * it can be taken at any moment by the local end of some outgoing connection (seen: EADDRINUSE on the functions port).
 */
export const benchEnvDefaults = {
  DAEMONLESS_LOCAL_DIR: '/tmp/bench-local',
  DAEMONLESS_APISERVER_PORT: '28443',
  DAEMONLESS_ETCD_PORT: '28379',
  DAEMONLESS_ETCD_PEER_PORT: '28380',
  DAEMONLESS_SCHEDULER_PORT: '28259',
  DAEMONLESS_CONTROLLER_MANAGER_PORT: '28257',
  // HTTPS (audit webhook, admission) is the next port.
  DAEMONLESS_FUNCTIONS_PORT: '29887',
} as const;

/** Fills the unset variables in `env` (process.env by default) and returns the values in effect. */
export function applyBenchEnv(env: NodeJS.ProcessEnv = process.env): Record<keyof typeof benchEnvDefaults, string> {
  const effective = {} as Record<keyof typeof benchEnvDefaults, string>;
  for (const [key, value] of Object.entries(benchEnvDefaults) as [keyof typeof benchEnvDefaults, string][]) {
    env[key] ??= value;
    effective[key] = env[key] as string;
  }
  return effective;
}
