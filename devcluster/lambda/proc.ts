/**
 * Linux /proc helpers for the local Lambda runtime: a process's descendants, their resident memory, and signals to a
 * whole tree. Everything is addressed by pid; nothing is looked up by name.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/** Direct children of `pid` (all its threads' children). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) {
        if (child) out.push(Number(child));
      }
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** `pid` and every descendant, parents first. */
export function treeOf(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i += 1) out.push(...childrenOf(out[i]!));
  return out;
}

/** A `/proc/<pid>/status` field in kB (VmRSS, VmHWM), or 0 when the process is gone. */
export function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Resets the process's peak resident memory (VmHWM) to its current RSS (`/proc/<pid>/clear_refs` value 5, Linux ≥ 4.0),
 * so that the next VmHWM reading is the peak since now. False when the kernel refused (or the process is gone).
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export function signalTree(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

