/**
 * Where the machine's CPU went during a measurement window, by component: every process on the machine whose command
 * line names one (kube-apiserver, etcd, the scheduler, the controller manager, the node simulator, the functions —
 * the local server or the Lambda runtimes —, the local Lambda service, the Runtime Interface Emulators, ElasticMQ,
 * the bench itself), user + system time from /proc/<pid>/stat.
 *
 * The systems share the machine's cores with the control plane. In the Lambda runtime the local stand-ins for AWS
 * (the Lambda service, RIE, ElasticMQ) use CPU that Amazon's own services would not take from the API server's
 * machine; this table says how much, next to the convergence times it slows.
 *
 * A process started during the window counts from zero; one that ended during it is missing (the local Lambda
 * service recycles no environment during a shape; an idle timeout would).
 */
import { readdirSync, readFileSync } from 'node:fs';

export const cpuGroups = [
  'kube-apiserver',
  'etcd',
  'kube-scheduler',
  'kube-controller-manager',
  'simulator',
  'functions',
  'Lambda service',
  'RIE',
  'ElasticMQ',
  'bench',
] as const;
export type CpuGroup = (typeof cpuGroups)[number];

/** The component a process belongs to, from its command line (NUL-separated arguments joined by spaces). Pure. */
export function classifyProcess(cmdline: string): CpuGroup | undefined {
  const rules: [RegExp, CpuGroup][] = [
    [/(^|\/)kube-apiserver /, 'kube-apiserver'],
    [/(^|\/)etcd /, 'etcd'],
    [/(^|\/)kube-scheduler /, 'kube-scheduler'],
    [/(^|\/)kube-controller-manager /, 'kube-controller-manager'],
    [/devcluster\/simulator\/main\.ts/, 'simulator'],
    [/devcluster\/lambda\/main\.ts/, 'Lambda service'],
    [/(^|\/)aws-lambda-rie /, 'RIE'],
    [/aws-lambda-ric\/|src\/local\/serve\.ts/, 'functions'],
    [/ org\.elasticmq\.server\.Main/, 'ElasticMQ'],
    [/bench\/run\.ts/, 'bench'],
  ];
  return rules.find(([re]) => re.test(cmdline))?.[1];
}

/** CPU ticks (1/100 s) of one process from its /proc/<pid>/stat text: utime + stime. Pure. */
export function ticksOfStat(stat: string): number {
  // Fields after the command (which may hold spaces and parentheses): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const TICKS_PER_SECOND = 100; // USER_HZ

export type CpuSnapshot = Map<number, { group: CpuGroup; ticks: number }>;

/** Every classified process now. Processes that vanish while being read are skipped. */
export function cpuSnapshot(): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const group = classifyProcess(cmdline);
      if (!group) continue;
      out.set(Number(entry), { group, ticks: ticksOfStat(readFileSync(`/proc/${entry}/stat`, 'utf8')) });
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/** CPU seconds by component between two snapshots (components with none are left out). Pure. */
export function cpuSeconds(before: CpuSnapshot, after: CpuSnapshot): Partial<Record<CpuGroup, number>> {
  const ticksBy: Partial<Record<CpuGroup, number>> = {};
  for (const [pid, { group, ticks }] of after) {
    const start = before.get(pid);
    const used = ticks - (start && start.group === group ? start.ticks : 0);
    if (used > 0) ticksBy[group] = (ticksBy[group] ?? 0) + used;
  }
  return Object.fromEntries(Object.entries(ticksBy).map(([group, ticks]) => [group, ticks / TICKS_PER_SECOND]));
}

/** The local stand-ins for AWS services, which a deployment does not run beside the API server. */
export const localCloudGroups: readonly CpuGroup[] = ['Lambda service', 'RIE', 'ElasticMQ'];
