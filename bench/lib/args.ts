/**
 * Command line of `npm run bench`:
 *
 *   --nodes N             node count (default 100; --large: 1000)
 *   --large               the large run: N = 1000
 *   --runtime R           server (default) or lambda: `--runtime lambda` runs daemonless in the local Lambda runtime
 *                         (system "lambda") beside the local server (system "daemonless") and upstream; its results
 *                         are kept apart (bench/results/latest-lambda*.{json,md,svg})
 *   --only a,b,...        any of the systems  daemonless (the local server runtime), lambda (the Lambda runtime),
 *                                             upstream, raised
 *                         and of the phases   a, b, c, latency, change, minready, lists, memory, floor, cold
 *                         (no system named: the runtime's systems; no phase named: all phases)
 *   --latency-samples K   single-node joins for the latency phase, with 1 and with 4 DaemonSets (default 30)
 *   --join-ready-ms M     the latency phase's nodes register not Ready (as a kubelet does before its runtime and
 *                         network are up) and report Ready M ms later: their creation and the not-ready taint's
 *                         removal are separate events, as in a cluster (default 0: Ready at creation, so the two
 *                         usually share an audit batch)
 *   --delivery D          how the API server delivers events to daemonless: audit (default: the audit webhook) or
 *                         admission (the ValidatingWebhookConfiguration, as on a managed cluster such as EKS)
 *   --change-samples K    DaemonSet changes for the change phase (default 5)
 *   --memory-nodes L      node counts of the memory phase's sweep (default 100,1000,5000; Lambda runtime only)
 *   --cold-reps R         process starts per bundle for the cold-start phase (default 15)
 *   --raised-qps Q        kube-controller-manager QPS of the "raised" run (default: daemonless's measured peak request
 *                         rate in this run, rounded up to 10, at least 50; 200 when daemonless did not run)
 *   --stall-seconds S     give up on a shape after S seconds without any pod change (default 20)
 */
export const systemNames = ['daemonless', 'lambda', 'upstream', 'raised'] as const;
export const phaseNames = ['a', 'b', 'c', 'latency', 'change', 'minready', 'lists', 'memory', 'floor', 'cold'] as const;
export const runtimeNames = ['server', 'lambda'] as const;
export const deliveryNames = ['audit', 'admission'] as const;
export type SystemName = (typeof systemNames)[number];
export type PhaseName = (typeof phaseNames)[number];
export type RuntimeName = (typeof runtimeNames)[number];
export type DeliveryName = (typeof deliveryNames)[number];

/** The systems a runtime compares when --only names none. */
export const defaultSystems: Record<RuntimeName, SystemName[]> = {
  server: ['daemonless', 'upstream', 'raised'],
  lambda: ['daemonless', 'lambda', 'upstream'],
};

export interface BenchArgs {
  nodes: number;
  large: boolean;
  runtime: RuntimeName;
  systems: SystemName[];
  phases: Set<PhaseName>;
  latencySamples: number;
  /** The latency phase's nodes report Ready this long after registering (0: at once). */
  joinReadyMs: number;
  /** How the API server delivers events to daemonless's functions. */
  delivery: DeliveryName;
  changeSamples: number;
  memoryNodes: number[];
  /**
   * Only in results from before the local Lambda runtime started node as the nodejs22.x bootstrap does: the V8 heap
   * limit (`--max-old-space-size`) the bench gave every function then (devcluster/lambda/bootstrap.ts).
   */
  lambdaHeapMb?: number | undefined;
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

const wholeNumber = (flag: string, raw: string | undefined): number => {
  const value = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isInteger(value) || value < 0) throw new ArgsError(`${flag} needs a whole number ≥ 0, got ${raw}`);
  return value;
};

export function parseArgs(argv: readonly string[]): BenchArgs {
  let nodes: number | undefined;
  let large = false;
  let only: string[] | undefined;
  let latencySamples = 30;
  let joinReadyMs = 0;
  let delivery: DeliveryName = 'audit';
  let changeSamples = 5;
  let memoryNodes = [100, 1000, 5000];
  let runtime: RuntimeName = 'server';
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
      case '--join-ready-ms':
        joinReadyMs = wholeNumber(flag, value());
        break;
      case '--delivery': {
        const d = value();
        if (!(deliveryNames as readonly string[]).includes(d ?? '')) throw new ArgsError(`--delivery: use ${deliveryNames.join(' or ')}, got ${d}`);
        delivery = d as DeliveryName;
        break;
      }
      case '--change-samples':
        changeSamples = positiveInt(flag, value());
        break;
      case '--memory-nodes':
        memoryNodes = (value() ?? '').split(',').map((s) => positiveInt(flag, s.trim()));
        break;
      case '--runtime': {
        const r = value();
        if (!(runtimeNames as readonly string[]).includes(r ?? '')) throw new ArgsError(`--runtime: use ${runtimeNames.join(' or ')}, got ${r}`);
        runtime = r as RuntimeName;
        break;
      }
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
    runtime,
    systems: chosenSystems.length > 0 ? chosenSystems : [...defaultSystems[runtime]],
    phases: new Set(chosenPhases.length > 0 ? chosenPhases : phaseNames),
    latencySamples,
    joinReadyMs,
    delivery,
    changeSamples,
    memoryNodes,
    coldReps,
    raisedQps,
    stallSeconds,
    complete: only === undefined && (n === 100 || n === 1000) && joinReadyMs === 0 && delivery === 'audit',
  };
}
