/**
 * The local Lambda service's process (started detached by control.ts): reads its options from the JSON file named by
 * the first argument (0600: it holds the local parameter store's values), starts the service, writes `ready.json`
 * beside it, and on SIGTERM / SIGINT stops every execution environment it started before exiting.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startService, type ServiceOptions } from './service.ts';

const optionsFile = process.argv[2];
if (!optionsFile) {
  process.stderr.write('usage: node devcluster/lambda/main.ts <options.json>\n');
  process.exit(2);
}
const options = JSON.parse(readFileSync(optionsFile, 'utf8')) as ServiceOptions;
const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
const readyFile = join(options.stateDir, 'ready.json');
rmSync(readyFile, { force: true });
/** Written whole or not at all (a temporary file renamed): the starter polls for it and must never read half of it. */
const writeReady = (value: object): void => {
  writeFileSync(`${readyFile}.tmp`, JSON.stringify(value));
  renameSync(`${readyFile}.tmp`, readyFile);
};

try {
  const service = await startService(options, log);
  writeReady({ pid: process.pid, invokeUrl: service.invokeUrl, httpUrl: service.httpUrl, httpsUrl: service.httpsUrl });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${signal})`);
    await service.stop();
    rmSync(readyFile, { force: true });
    log('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
} catch (error) {
  log(`failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  writeReady({ error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}
