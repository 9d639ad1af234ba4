/**
 * vitest globalSetup of the integration project: brings the whole local system up once per run (control plane,
 * simulator, functions with audit delivery), or reuses one that `npm run up` left running; stops it afterwards only
 * if it started it.
 */
import { isSystemUp, startSystem, stopSystem } from '../../devcluster/system.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const reused = isSystemUp();
  const started = Date.now();
  await startSystem({ log: (line) => process.stderr.write(`[system] ${line}\n`), functionsEnv: { LOG_LEVEL: 'debug' } });
  process.stderr.write(`[system] ${reused ? 'reused' : 'started'} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return async () => {
    if (!reused) await stopSystem((line) => process.stderr.write(`[system] ${line}\n`));
  };
}
