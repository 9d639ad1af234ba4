/** Argument parsing for `npm run nodes -- <command>` (devcluster/nodes-cli.ts). Pure: argv in, a command out. */
import { parseArgs } from 'node:util';
import { ArgumentError, parseLabel, parseTaint, parseTaintSpec } from './parse.ts';
import type { Taint, TaintEffect } from './well-known.ts';

export type Command =
  | { kind: 'add'; count: number; labels: Record<string, string>; taints: Taint[]; namePrefix?: string }
  | { kind: 'delete'; names: string[] }
  | { kind: 'ready'; name: string; ready: boolean }
  | { kind: 'taint'; name: string; add: Taint }
  | { kind: 'untaint'; name: string; key: string; effect?: TaintEffect }
  | { kind: 'label'; name: string; labels: Record<string, string | null> }
  | { kind: 'fail-pod'; namespace: string; name: string }
  | { kind: 'list' }
  | { kind: 'help' };

export const USAGE = `usage: npm run nodes -- <command>

  add N [--label k=v]... [--taint k=v:Effect]... [--prefix P]
                             register N simulated nodes (taints as at registration); prints their names
  delete NAME...             delete nodes (and their Leases)
  not-ready NAME             set Ready=False and keep it so (the node lifecycle controller then taints it)
  ready NAME                 back to Ready=True
  taint NAME k=v:Effect      add a taint (k:Effect- or k- removes)
  label NAME k=v...          set labels (k- removes)
  fail-pod NAMESPACE/NAME    make a pod Failed (container exited 1); the simulator leaves it so
  list                       simulated nodes: ready, taints, pods on each

Effects: NoSchedule, PreferNoSchedule, NoExecute.
Kubeconfig: the local cluster's .local/kubeconfig ($DAEMONLESS_LOCAL_DIR/kubeconfig if set), never $KUBECONFIG.
`;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function nodeName(value: string | undefined, command: string): string {
  if (!value) throw new ArgumentError(`${command}: missing node name`);
  if (value.length > 253 || !DNS_SUBDOMAIN.test(value)) throw new ArgumentError(`${command}: "${value}" is not a valid node name`);
  return value;
}

function exactly(positionals: string[], count: number, command: string): void {
  if (positionals.length !== count) {
    throw new ArgumentError(`${command}: expected ${count} argument${count === 1 ? '' : 's'}, got ${positionals.length}`);
  }
}

/** Throws ArgumentError (the CLI prints it with USAGE and exits 2). */
export function parseCommand(argv: readonly string[]): Command {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') return { kind: 'help' };

  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...rest], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new ArgumentError(`${command}: ${(error as Error).message}`);
  }
  const { values, positionals } = parsed;
  const allowed: Record<string, readonly string[]> = { add: ['label', 'taint', 'prefix'] };
  for (const key of Object.keys(values)) {
    if (!(allowed[command] ?? []).includes(key)) throw new ArgumentError(`${command}: unknown option --${key}`);
  }

  switch (command) {
    case 'add': {
      exactly(positionals, 1, command);
      const count = Number(positionals[0]);
      if (!/^\d+$/.test(positionals[0]!) || count < 1 || count > 10_000) {
        throw new ArgumentError(`add: node count must be an integer from 1 to 10000, got "${positionals[0]}"`);
      }
      const labels: Record<string, string> = {};
      for (const raw of values.label ?? []) {
        const { key, value } = parseLabel(raw);
        if (value === null) throw new ArgumentError(`add: --label ${raw}: removal makes no sense here`);
        labels[key] = value;
      }
      const prefix = values.prefix;
      if (prefix !== undefined && !/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/.test(prefix)) {
        throw new ArgumentError(`add: --prefix "${prefix}" must be lowercase letters, digits and dashes (≤ 32)`);
      }
      return { kind: 'add', count, labels, taints: (values.taint ?? []).map(parseTaint), ...(prefix ? { namePrefix: prefix } : {}) };
    }
    case 'delete':
      if (positionals.length === 0) throw new ArgumentError('delete: missing node name');
      return { kind: 'delete', names: positionals.map((p) => nodeName(p, command)) };
    case 'not-ready':
    case 'ready':
      exactly(positionals, 1, command);
      return { kind: 'ready', name: nodeName(positionals[0], command), ready: command === 'ready' };
    case 'taint': {
      exactly(positionals, 2, command);
      const name = nodeName(positionals[0], command);
      const spec = parseTaintSpec(positionals[1]!);
      if (spec.remove) return { kind: 'untaint', name, key: spec.key, ...(spec.effect ? { effect: spec.effect } : {}) };
      return { kind: 'taint', name, add: spec.taint };
    }
    case 'label': {
      if (positionals.length < 2) throw new ArgumentError('label: expected NAME k=v...');
      const [name, ...pairs] = positionals;
      const labels: Record<string, string | null> = {};
      for (const raw of pairs) {
        const { key, value } = parseLabel(raw);
        labels[key] = value;
      }
      return { kind: 'label', name: nodeName(name, command), labels };
    }
    case 'fail-pod': {
      exactly(positionals, 1, command);
      const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(positionals[0]!);
      if (!match) throw new ArgumentError(`fail-pod: expected NAMESPACE/NAME, got "${positionals[0]}"`);
      return { kind: 'fail-pod', namespace: match[1]!, name: match[3]! };
    }
    case 'list':
      exactly(positionals, 0, command);
      return { kind: 'list' };
    default:
      throw new ArgumentError(`unknown command "${command}"`);
  }
}

const OPTIONS = {
  label: { type: 'string', multiple: true },
  taint: { type: 'string', multiple: true },
  prefix: { type: 'string' },
} as const;
