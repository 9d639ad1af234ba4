/**
 * The node simulator as a long-running process: `node devcluster/simulator/main.ts`, started by `cluster:up` with
 * KUBECONFIG set and its output in .local/logs/simulator.log. Configuration: SIM_* variables (config.ts).
 */
import { defaultKubeconfigPath, loadKubeConfig } from './client.ts';
import { loadSimulatorEnv, simulatorOptionsFromEnv } from './config.ts';
import { createLogger } from './log.ts';
import { startSimulator } from './simulator.ts';

const env = loadSimulatorEnv(process.env);
const log = createLogger(env.SIM_LOG_LEVEL);
const kubeconfig = defaultKubeconfigPath(env);

let stopping = false;
let simulator: Awaited<ReturnType<typeof startSimulator>> | undefined;

const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info(`${signal}: stopping`);
  const exit = setTimeout(() => process.exit(0), 3000);
  void (simulator?.stop() ?? Promise.resolve()).finally(() => {
    clearTimeout(exit);
    process.exit(0);
  });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

log.info(
  `node simulator: kubeconfig ${kubeconfig}; ready delay ${env.SIM_READY_DELAY_MS} ms, delete delay ${env.SIM_DELETE_DELAY_MS} ms, ` +
    `broken images /${env.SIM_BROKEN_IMAGE.source}/, lease every ${env.SIM_LEASE_INTERVAL_MS} ms, ${env.SIM_CONCURRENCY} requests in flight`,
);
simulator = await startSimulator(loadKubeConfig(kubeconfig), { ...simulatorOptionsFromEnv(env), log });
if (stopping) await simulator.stop();
