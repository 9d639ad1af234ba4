/**
 * Command line of `npm run bench`:
 *
 *   --nodes N             node count (default 100; --large: 1000)
 *   --large               the large run: N = 1000
 *   --only a,b,...        any of the systems  daemonless, upstream, raised
 *                         and of the phases   a, b, c, latency, floor, cold
 *                         (no system named: all systems; no phase named: all phases)
 *   --latency-samples K   single-node joins for the latency phase (default 30)
 *   --cold-reps R         process starts per bundle for the cold-start phase (default 15)
 *   --raised-qps Q        kube-controller-manager QPS of the "raised" run (default: daemonless's measured peak request
 *                         rate in this run, rounded up to 10, at least 50; 200 when daemonless did not run)
 *   --stall-seconds S     give up on a shape after S seconds without any pod change (default 20)
 */
export const systemNames = ['daemonless', 'upstream', 'raised'] as const;
export const phaseNames = ['a', 'b', 'c', 'latency', 'floor', 'cold'] as const;
export type SystemName = (typeof systemNames)[number];
export type PhaseName = (typeof phaseNames)[number];

export interface BenchArgs {
  nodes: number;
  large: boolean;
  systems: SystemName[];
  phases: Set<PhaseName>;
  latencySamples: number;
  coldReps: number;
  raisedQps: number | undefined;
  stallSeconds: number;
  /** Every system and phase, at N = 100 or 1000: the run that may replace the published summary. */
  complete: boolean;
}

export class ArgsError extends Error {
  override name = 'ArgsError';
}

const positiveInt = (flag: string, raw: string | undefined): number => {
  const value = Number(raw);
  if (raw === undefined || !Number.isInteger(value) || value <= 0) throw new ArgsError(`${flag} needs a positive integer, got ${raw}`);
  return value;
};

export function parseArgs(argv: readonly string[]): BenchArgs {
  let nodes: number | undefined;
  let large = false;
  let only: string[] | undefined;
  let latencySamples = 30;
  let coldReps = 15;
  let raisedQps: number | undefined;
  let stallSeconds = 20;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.includes('=') ? (arg.split(/=(.*)/s, 2) as [string, string]) : [arg, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--large':
        large = true;
        break;
      case '--nodes':
        nodes = positiveInt(flag, value());
        break;
      case '--only':
        only = (value() ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        break;
      case '--latency-samples':
        latencySamples = positiveInt(flag, value());
        break;
      case '--cold-reps':
        coldReps = positiveInt(flag, value());
        break;
      case '--raised-qps':
        raisedQps = positiveInt(flag, value());
        break;
      case '--stall-seconds':
        stallSeconds = positiveInt(flag, value());
        break;
      default:
        throw new ArgsError(`unknown argument ${arg} (see bench/lib/args.ts)`);
    }
  }
  const unknown = (only ?? []).filter((t) => !(systemNames as readonly string[]).includes(t) && !(phaseNames as readonly string[]).includes(t));
  if (unknown.length > 0) throw new ArgsError(`--only: unknown ${unknown.join(', ')}; use ${[...systemNames, ...phaseNames].join(', ')}`);
  const chosenSystems = systemNames.filter((s) => only?.includes(s));
  const chosenPhases = phaseNames.filter((p) => only?.includes(p));
  const n = nodes ?? (large ? 1000 : 100);
  return {
    nodes: n,
    large,
    systems: chosenSystems.length > 0 ? chosenSystems : [...systemNames],
    phases: new Set(chosenPhases.length > 0 ? chosenPhases : phaseNames),
    latencySamples,
    coldReps,
    raisedQps,
    stallSeconds,
    complete: only === undefined && (n === 100 || n === 1000),
  };
}
