/**
 * Background processes of the local control plane: started detached (they outlive `npm run cluster:up`), tracked by
 * pid file, and stopped by pid only — never by name, so nothing else on the machine (another clone's cluster, a
 * developer's own etcd) is touched. Before signalling a pid we check, through /proc, that it still runs the command we
 * started: a pid file left behind by a crash may name a pid the kernel has since given to someone else.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

export class ProcessStartError extends Error {
  override name = 'ProcessStartError';
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Daemon {
  readonly name: string;
  readonly pid: number;
  readonly log: string;
  /** Set once the process has exited, while this Node process is still the one that started it. */
  exited(): ExitInfo | undefined;
}

export interface DaemonSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly logFile: string;
  readonly pidFile: string;
  readonly cwd?: string;
}

export async function spawnDaemon(spec: DaemonSpec): Promise<Daemon> {
  const fd = openSync(spec.logFile, 'a');
  // Arguments are file paths and flags only; credentials stay in files the process reads.
  writeSync(fd, `\n=== ${new Date().toISOString()} starting ${spec.command} ${spec.args.join(' ')}\n`);
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: spec.env ?? process.env,
      ...(spec.cwd ? { cwd: spec.cwd } : {}),
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) {
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new ProcessStartError(`${spec.name}: cannot start ${spec.command}: ${error.message}`);
  }
  let exit: ExitInfo | undefined;
  child.once('exit', (code, signal) => {
    exit = { code, signal };
  });
  // Detached and unref'd: the daemon belongs to the cluster, not to the process that ran `up`.
  child.unref();
  writeFileSync(spec.pidFile, `${child.pid}\n`);
  return { name: spec.name, pid: child.pid, log: spec.logFile, exited: () => exit };
}

export function readPidFile(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

const hasProc = existsSync('/proc/self/cmdline');

/** An identity entry `env:NAME=value` is matched against the process's environment instead of its command line. */
export const envPrefix = 'env:';

/**
 * True when `pid` is alive (not a zombie) and its command line contains every string of `identity` (e.g. the binary
 * name and the cluster's local folder). Without /proc (not Linux) only liveness can be checked.
 */
export function isOurProcess(pid: number, identity: readonly string[]): boolean {
  if (!hasProc) return isAlive(pid);
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3, after the parenthesised command name (which may itself contain spaces or parentheses).
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    const wantsEnv = identity.some((part) => part.startsWith(envPrefix));
    const environ = wantsEnv ? readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0') : [];
    return identity.every((part) =>
      part.startsWith(envPrefix) ? environ.includes(part.slice(envPrefix.length)) : cmdline.includes(part),
    );
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type StopOutcome = 'not-running' | 'terminated' | 'killed';

/**
 * SIGTERM, wait up to `graceMs` for the process to exit, then SIGKILL and wait again. Resolves only once the pid is
 * gone, so a following start finds its ports free.
 */
export async function stopProcess(pid: number, identity: readonly string[], graceMs: number): Promise<StopOutcome> {
  if (!isOurProcess(pid, identity)) return 'not-running';
  signal(pid, 'SIGTERM');
  if (await waitGone(pid, identity, graceMs)) return 'terminated';
  signal(pid, 'SIGKILL');
  if (await waitGone(pid, identity, 10_000)) return 'killed';
  throw new ProcessStartError(`pid ${pid} survived SIGKILL`);
}

/**
 * Sends `sig` (SIGKILL by default: a crash, nothing flushed) and waits until the process is gone. For fault injection:
 * `stopProcess` is the way to stop a component cleanly.
 */
export async function crashProcess(pid: number, identity: readonly string[], sig: NodeJS.Signals = 'SIGKILL'): Promise<StopOutcome> {
  if (!isOurProcess(pid, identity)) return 'not-running';
  signal(pid, sig);
  if (await waitGone(pid, identity, 30_000)) return sig === 'SIGKILL' ? 'killed' : 'terminated';
  throw new ProcessStartError(`pid ${pid} survived ${sig} for 30 s`);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function waitGone(pid: number, identity: readonly string[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isOurProcess(pid, identity)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/**
 * After `stopProcess`, an exited daemon stays a <defunct> entry until its parent reaps it — init, once the process
 * that ran `up` is gone, and some inits (this machine's included) reap only every second or two. Waiting for that
 * (bounded: reaping is not ours to do) means a `pgrep` right after `down` lists nothing.
 */
export async function waitReaped(pids: readonly number[], timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (hasProc && pids.some((pid) => existsSync(`/proc/${pid}`)) && Date.now() < deadline) await sleep(50);
}

/** Fails with a clear message when something already listens on the port, instead of a component crashing later. */
export async function assertPortFree(port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new PortInUseError(`${what}: port 127.0.0.1:${port} is already in use (set another port with its DAEMONLESS_*_PORT variable)`)
          : error,
      );
    });
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

/** The last lines of a log, for error messages when a component fails to start. */
export function logTail(file: string, lines = 15): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8').trimEnd().split('\n');
  return text.slice(-lines).join('\n');
}
