/**
 * The fault proxy as its own process, in front of the local control plane (`npm run faults`, or started and tracked
 * by startSystem({ faultProxy })):
 *
 *   node devcluster/faults/main.ts [--port N] [--control-port N] [--config FILE] [--local-dir DIR]
 *
 * --config FILE: the rules (JSON, devcluster/faults/rules.ts) read at start, re-read whenever the file changes, and
 * rewritten when the control endpoint changes them, so a restarted proxy resumes with the rules last set. Counters
 * live in memory and start over with the process.
 */
import { existsSync, readFileSync, renameSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startLocalFaultProxy } from './local.ts';
import { type FaultConfig, FaultConfigError, parseFaultConfig } from './rules.ts';

const usage = 'usage: main.ts [--port N] [--control-port N] [--config FILE] [--local-dir DIR]';
const say = (line: string): void => void process.stdout.write(`${new Date().toISOString()} ${line}\n`);

function port(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new FaultConfigError(`${flag}: not a port: ${value}`);
  return n;
}

function readConfigFile(file: string): FaultConfig {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new FaultConfigError(`${file}: ${(error as Error).message}`);
  }
  try {
    return parseFaultConfig(json);
  } catch (error) {
    throw new FaultConfigError(`${file}: ${(error as Error).message}`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'control-port': { type: 'string' },
      config: { type: 'string' },
      'local-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    say(usage);
    return;
  }
  const file = values.config;
  const initial = file && existsSync(file) ? readConfigFile(file) : undefined;
  let written = '';
  const persist = (config: FaultConfig): void => {
    if (!file) return;
    written = JSON.stringify(config, null, 2) + '\n';
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, written);
    renameSync(tmp, file);
  };
  const proxy = await startLocalFaultProxy({
    ...(values['local-dir'] ? { localDir: values['local-dir'] } : {}),
    port: port('--port', values.port, 0),
    controlPort: port('--control-port', values['control-port'], 0),
    ...(initial ? { config: initial } : {}),
    onConfigChange: persist,
    log: say,
  });
  persist(proxy.config());
  if (file) {
    watchFile(file, { interval: 500 }, () => {
      if (!existsSync(file)) return;
      const text = readFileSync(file, 'utf8');
      if (text === written) return;
      try {
        proxy.setConfig(readConfigFile(file));
      } catch (error) {
        say(`ignoring ${file}, keeping the rules in force: ${(error as Error).message}`);
      }
    });
  }
  say(`fault proxy ready: ${proxy.url}; control ${proxy.controlUrl}; kubeconfig ${proxy.kubeconfig}`);
  const stop = (signal: string): void => {
    say(`${signal}: stopping`);
    if (file) unwatchFile(file);
    void proxy.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

try {
  await main();
} catch (error) {
  const e = error as Error;
  process.stderr.write(`${e.name}: ${e.message}\n`);
  process.exit(e instanceof FaultConfigError ? 2 : 1);
}
