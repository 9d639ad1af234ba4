/**
 * `npm run cluster:up|cluster:down|cluster:status|cluster:restart`:
 *
 *   node devcluster/cli.ts up [--fresh] [--upstream-daemonset | --no-upstream-daemonset] [--kcm-qps N] [--kcm-burst N]
 *                             [--audit-webhook URL [--audit-token T] | --no-audit-webhook] [--no-simulator | --simulator]
 *   node devcluster/cli.ts restart COMPONENT [--kill] [--down-ms N]
 *   node devcluster/cli.ts down
 *   node devcluster/cli.ts status      exit code 0 when running, 3 when not (as `systemctl status`)
 *
 * `up` on an existing cluster keeps its data and every option not given on the command line; it starts again only
 * what is dead or unhealthy, and restarts the components whose options are changed (docs/devcluster.md). Only
 * `--fresh` (and `down`) delete a cluster's data. The audit token may also come from DAEMONLESS_AUDIT_TOKEN, which
 * keeps it out of the process list.
 */
import { parseArgs } from 'node:util';
import { down, formatStatus, restart, status, up } from './controlplane.ts';
import type { UpOptions } from './options.ts';

const usage = `usage: cli.ts up [--fresh] [--upstream-daemonset | --no-upstream-daemonset] [--kcm-qps N] [--kcm-burst N]
                 [--audit-webhook URL [--audit-token T] | --no-audit-webhook] [--simulator | --no-simulator]
       cli.ts restart COMPONENT [--kill] [--down-ms N]   COMPONENT: etcd, kube-apiserver, kube-controller-manager,
                                                          kube-scheduler, simulator, or a process started beside
                                                          them (functions, fault-proxy)
       cli.ts down                                        stops everything and DELETES the cluster's data
       cli.ts status`;

class UsageError extends Error {
  override name = 'UsageError';
}

function positiveNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} expects a positive number, got ${value}`);
  return n;
}

const cliOptions = {
  fresh: { type: 'boolean' },
  'upstream-daemonset': { type: 'boolean' },
  'no-upstream-daemonset': { type: 'boolean' },
  'kcm-qps': { type: 'string' },
  'kcm-burst': { type: 'string' },
  'audit-webhook': { type: 'string' },
  'audit-token': { type: 'string' },
  'no-audit-webhook': { type: 'boolean' },
  simulator: { type: 'boolean' },
  'no-simulator': { type: 'boolean' },
  kill: { type: 'boolean' },
  'down-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: cliOptions });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

type Values = ReturnType<typeof parseCommandLine>['values'];

/** A flag and its negation: true, false, or undefined (not given: keep what runs). */
function toggle(values: Values, on: 'upstream-daemonset' | 'simulator'): boolean | undefined {
  const off = values[`no-${on}`];
  if (values[on] && off) throw new UsageError(`--${on} and --no-${on} contradict each other`);
  return values[on] ? true : off ? false : undefined;
}

/** Only what the command line sets: an option left out keeps the running cluster's value. */
export function upOptionsFrom(values: Values, env: NodeJS.ProcessEnv = process.env): UpOptions {
  if (values['audit-token'] !== undefined && values['audit-webhook'] === undefined) {
    throw new UsageError('--audit-token needs --audit-webhook');
  }
  if (values['audit-webhook'] !== undefined && values['no-audit-webhook']) {
    throw new UsageError('--audit-webhook and --no-audit-webhook contradict each other');
  }
  const token = values['audit-token'] ?? env['DAEMONLESS_AUDIT_TOKEN'];
  const upstreamDaemonset = toggle(values, 'upstream-daemonset');
  const simulator = toggle(values, 'simulator');
  const kcmQps = positiveNumber('--kcm-qps', values['kcm-qps']);
  const kcmBurst = positiveNumber('--kcm-burst', values['kcm-burst']);
  return {
    ...(values.fresh ? { fresh: true } : {}),
    ...(upstreamDaemonset !== undefined ? { upstreamDaemonset } : {}),
    ...(kcmQps !== undefined ? { kcmQps } : {}),
    ...(kcmBurst !== undefined ? { kcmBurst } : {}),
    ...(values['no-audit-webhook'] ? { auditWebhook: null } : {}),
    ...(values['audit-webhook'] !== undefined
      ? { auditWebhook: { url: values['audit-webhook'], ...(token !== undefined ? { token } : {}) } }
      : {}),
    ...(simulator !== undefined ? { simulator } : {}),
  };
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv);
  const [command, ...rest] = positionals;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (command !== 'restart' && rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  switch (command) {
    case 'up': {
      const info = await up(upOptionsFrom(values));
      console.log(`server:                  ${info.server}`);
      console.log(`kubeconfig (admin):      ${info.kubeconfig}`);
      console.log(`kubeconfig (reconciler): ${info.reconcilerKubeconfig}`);
      console.log(`try: npm run kubectl -- get nodes`);
      return 0;
    }
    case 'restart': {
      const [name, ...extra] = rest;
      if (name === undefined) throw new UsageError('restart: which component?');
      if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
      const downtimeMs = positiveNumber('--down-ms', values['down-ms']);
      const result = await restart(name, { ...(values.kill ? { signal: 'SIGKILL' as const } : {}), ...(downtimeMs ? { downtimeMs } : {}) });
      console.log(
        `${result.name}: pid ${result.previousPid ?? '-'} → ${result.pid}; out for ${result.outageSeconds} s, ready ${result.readySeconds} s after start`,
      );
      return 0;
    }
    case 'down':
      await down();
      return 0;
    case 'status': {
      const s = await status();
      console.log(formatStatus(s));
      return s.running ? 0 : 3;
    }
    default:
      throw new UsageError(command === undefined ? 'missing command' : `unknown command: ${command}`);
  }
}

// Run only as the entry script, so tests can import upOptionsFrom.
if (import.meta.main ?? process.argv[1]?.endsWith('cli.ts')) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    const e = error as Error;
    console.error(`${e.name}: ${e.message}`);
    if (e instanceof UsageError) console.error(usage);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  }
}
