/**
 * `npm run conformance [-- --system daemonless|upstream] [--focus REGEX] [--nodes N] [--timeout 40m] [--seed N]
 * [--delivery audit|admission|both] [--runtime server|lambda] [--verbose]`: upstream's DaemonSet e2e specs against the local system (see
 * devcluster/conformance.ts). Prints a per-spec table; exits 1 when any spec failed, 2 on a usage error.
 */
import { parseArgs } from 'node:util';
import { ConformanceError, runConformance, systemNames, type ConformanceOptions, type SystemName } from '../devcluster/conformance.ts';
import { failureDetails, summaryTable } from '../devcluster/conformance-report.ts';
import type { Delivery, Runtime } from '../devcluster/system.ts';

const usage =
  'usage: npm run conformance -- [--system daemonless|upstream] [--focus REGEX] [--nodes N] [--timeout DURATION] [--seed N]\n' +
  '                              [--delivery audit|admission|both] [--runtime server|lambda] [--verbose]\n';

function parseCommandLine(): ConformanceOptions {
  const options = {
    system: { type: 'string', default: 'daemonless' },
    focus: { type: 'string' },
    nodes: { type: 'string', default: '3' },
    timeout: { type: 'string', default: '40m' },
    seed: { type: 'string' },
    delivery: { type: 'string' },
    runtime: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  } as const;
  // An unknown option or a missing value is a usage error (exit 2), not a stack trace.
  const { values } = (() => {
    try {
      return parseArgs({ options });
    } catch (error) {
      process.stderr.write(`conformance: ${(error as Error).message}\n${usage}`);
      process.exit(2);
    }
  })();
  const problems: string[] = [];
  if (!(systemNames as readonly string[]).includes(values.system)) problems.push(`--system must be one of ${systemNames.join(', ')}`);
  const nodes = Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 1) problems.push(`--nodes must be a positive integer, got ${values.nodes}`);
  if (!/^(\d+(\.\d+)?(h|m|s|ms))+$/.test(values.timeout)) problems.push(`--timeout must be a Go duration such as 40m, got ${values.timeout}`);
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) problems.push(`--seed must be an integer, got ${values.seed}`);
  if (values.delivery !== undefined && !['audit', 'admission', 'both'].includes(values.delivery)) problems.push('--delivery must be audit, admission or both');
  if (values.delivery !== undefined && values.system !== 'daemonless') problems.push('--delivery applies to --system daemonless only');
  if (values.runtime !== undefined && !['server', 'lambda'].includes(values.runtime)) problems.push('--runtime must be server or lambda');
  if (values.runtime !== undefined && values.system !== 'daemonless') problems.push('--runtime applies to --system daemonless only');
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n${usage}`);
    process.exit(2);
  }
  return {
    system: values.system as SystemName,
    // The one place the daemonless system's own options are assembled; further shapes add theirs here.
    systemOptions: {
      ...(values.delivery !== undefined ? { delivery: values.delivery as Delivery } : {}),
      ...(values.runtime !== undefined ? { runtime: values.runtime as Runtime } : {}),
    },
    ...(values.focus !== undefined ? { focus: values.focus } : {}),
    nodes,
    timeout: values.timeout,
    ...(seed !== undefined ? { seed } : {}),
    verbose: values.verbose,
  };
}

try {
  const result = await runConformance(parseCommandLine());
  process.stdout.write(`${summaryTable(result.run)}\n`);
  if (result.failed) process.stdout.write(`${failureDetails(result.run)}\n`);
  process.stdout.write(`JUnit report and full output: ${result.reportDir}\n`);
  process.exitCode = result.failed ? 1 : 0;
} catch (error) {
  process.stderr.write(`conformance: ${error instanceof ConformanceError ? error.message : (error as Error).stack}\n`);
  process.exitCode = 1;
}
