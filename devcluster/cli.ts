/**
 * `npm run cluster:up|cluster:down|cluster:status`:
 *
 *   node devcluster/cli.ts up [--upstream-daemonset] [--kcm-qps N] [--kcm-burst N]
 *                             [--audit-webhook URL] [--audit-token T] [--no-simulator]
 *   node devcluster/cli.ts down
 *   node devcluster/cli.ts status      exit code 0 when running, 3 when not (as `systemctl status`)
 *
 * The audit token may also come from DAEMONLESS_AUDIT_TOKEN, which keeps it out of the process list.
 */
import { parseArgs } from 'node:util';
import { down, formatStatus, status, up } from './controlplane.ts';

const usage = `usage: cli.ts up [--upstream-daemonset] [--kcm-qps N] [--kcm-burst N] [--audit-webhook URL] [--audit-token T] [--no-simulator]
       cli.ts down
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
  'upstream-daemonset': { type: 'boolean' },
  'kcm-qps': { type: 'string' },
  'kcm-burst': { type: 'string' },
  'audit-webhook': { type: 'string' },
  'audit-token': { type: 'string' },
  'no-simulator': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: cliOptions });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv);
  const [command, ...rest] = positionals;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  switch (command) {
    case 'up': {
      if (values['audit-token'] !== undefined && values['audit-webhook'] === undefined) {
        throw new UsageError('--audit-token needs --audit-webhook');
      }
      const token = values['audit-token'] ?? process.env['DAEMONLESS_AUDIT_TOKEN'];
      const info = await up({
        upstreamDaemonset: values['upstream-daemonset'] ?? false,
        kcmQps: positiveNumber('--kcm-qps', values['kcm-qps']),
        kcmBurst: positiveNumber('--kcm-burst', values['kcm-burst']),
        ...(values['audit-webhook'] !== undefined
          ? { auditWebhook: { url: values['audit-webhook'], ...(token !== undefined ? { token } : {}) } }
          : {}),
        simulator: !values['no-simulator'],
      });
      console.log(`server:                  ${info.server}`);
      console.log(`kubeconfig (admin):      ${info.kubeconfig}`);
      console.log(`kubeconfig (reconciler): ${info.reconcilerKubeconfig}`);
      console.log(`try: npm run kubectl -- get nodes`);
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

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const e = error as Error;
  console.error(`${e.name}: ${e.message}`);
  if (e instanceof UsageError) console.error(usage);
  process.exitCode = e instanceof UsageError ? 2 : 1;
}
