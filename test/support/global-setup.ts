/**
 * vitest globalSetup of the integration project: brings the whole local system up once per run (control plane,
 * simulator, functions with audit delivery), or reuses one that `npm run up` left running; stops it afterwards only
 * if it started it. `DAEMONLESS_RUNTIME=lambda` runs the functions in the local Lambda runtime instead of the local
 * server (devcluster/lambda/product.ts); `DAEMONLESS_MODE=managed` brings the system up as a managed cluster gives it
 * (`npm run up -- --managed`: the built-in DaemonSet controller on, admission only, ServerlessDaemonSets).
 */
import { isSystemUp, startSystem, stopSystem, type Runtime } from '../../devcluster/system.ts';
import { functionsLog } from './cluster.ts';

/**
 * Errors the functions logged during this run, by message, with the last few in full: a CI failure of a test that only
 * waited for a state then says what the functions ran into (the logs themselves are gone with the machine).
 */
function reportErrors(since: number, write: (line: string) => void): void {
  const errors: { msg: string; line: string }[] = [];
  for (const line of functionsLog()) {
    if (!line.includes('"level":"error"')) continue;
    try {
      const entry = JSON.parse(line) as { time?: string; msg?: string };
      if (entry.time && Date.parse(entry.time) >= since) errors.push({ msg: entry.msg ?? '?', line });
    } catch {
      // not a log entry of ours
    }
  }
  if (errors.length === 0) return;
  const byMsg = new Map<string, number>();
  for (const e of errors) byMsg.set(e.msg, (byMsg.get(e.msg) ?? 0) + 1);
  write(`functions logged ${errors.length} error(s): ${[...byMsg].map(([msg, n]) => `${n}× ${msg}`).join('; ')}`);
  for (const e of errors.slice(-3)) write(`  ${e.line.slice(0, 600)}`);
}

export default async function setup(): Promise<() => Promise<void>> {
  const reused = isSystemUp();
  const started = Date.now();
  const runtime: Runtime = process.env.DAEMONLESS_RUNTIME === 'lambda' ? 'lambda' : 'server';
  const managed = process.env.DAEMONLESS_MODE === 'managed';
  await startSystem({ runtime, managed, log: (line) => process.stderr.write(`[system] ${line}\n`), functionsEnv: { LOG_LEVEL: 'debug' } });
  process.stderr.write(`[system] runtime ${runtime}${managed ? ', managed' : ''}, ${reused ? 'reused' : 'started'} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return async () => {
    reportErrors(started, (line) => process.stderr.write(`[system] ${line}\n`));
    if (!reused) await stopSystem((line) => process.stderr.write(`[system] ${line}\n`));
  };
}
