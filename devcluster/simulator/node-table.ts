/** `nodes list` output: one row per node, columns aligned. Pure. */
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { readyStatusOf, wantsReady } from './node-object.ts';
import { formatTaint } from './parse.ts';

export function formatNodeTable(nodes: readonly V1Node[], podsByNode: ReadonlyMap<string, readonly V1Pod[]>): string {
  const rows = [...nodes]
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
    .map((node) => {
      const name = node.metadata?.name ?? '';
      const pods = podsByNode.get(name) ?? [];
      const ready = readyStatusOf(node) ?? '?';
      const running = pods.filter((p) => p.status?.phase === 'Running').length;
      return [
        name,
        ready + (wantsReady(node) ? '' : ' (held)'),
        (node.spec?.taints ?? []).map(formatTaint).join(',') || '-',
        pods.length === 0 ? '0' : `${pods.length} (${running} running)`,
      ];
    });
  const header = ['NAME', 'READY', 'TAINTS', 'PODS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
