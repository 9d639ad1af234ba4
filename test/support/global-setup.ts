/**
 * vitest globalSetup of the integration project: brings the whole local system up once per run (control plane,
 * simulator, functions with audit delivery), or reuses one that `npm run up` left running; stops it afterwards only
 * if it started it. `DAEMONLESS_RUNTIME=lambda` runs the functions in the local Lambda runtime instead of the local
 * server (devcluster/lambda/product.ts); `DAEMONLESS_MODE=managed` brings the system up as a managed cluster gives it
 * (`npm run up -- --managed`: the built-in DaemonSet controller on, admission only, ServerlessDaemonSets).
 */
import { isSystemUp, startSystem, stopSystem, type Runtime } from '../../devcluster/system.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const reused = isSystemUp();
  const started = Date.now();
  const runtime: Runtime = process.env.DAEMONLESS_RUNTIME === 'lambda' ? 'lambda' : 'server';
  const managed = process.env.DAEMONLESS_MODE === 'managed';
  await startSystem({ runtime, managed, log: (line) => process.stderr.write(`[system] ${line}\n`), functionsEnv: { LOG_LEVEL: 'debug' } });
  process.stderr.write(`[system] runtime ${runtime}${managed ? ', managed' : ''}, ${reused ? 'reused' : 'started'} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return async () => {
    if (!reused) await stopSystem((line) => process.stderr.write(`[system] ${line}\n`));
  };
}
