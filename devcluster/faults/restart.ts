/**
 * kube-apiserver restarts in the middle of a run, for fault trials: kill it (SIGKILL by default: a crash, no
 * graceful drain), optionally keep it down for a while, start it again with the cluster's options, etcd's data kept.
 * Everything else keeps running: the functions, the simulator and the controllers see the API server vanish and
 * come back, as in a control-plane upgrade or crash.
 */
import { type RestartOptions, type RestartResult, restart } from '../controlplane.ts';

export interface ApiserverRestartOptions extends Omit<RestartOptions, 'reason'> {
  /** Default SIGKILL. */
  readonly signal?: 'SIGTERM' | 'SIGKILL';
}

/** Kills kube-apiserver and starts it again; resolves once it is ready, with the outage's figures. */
export function restartApiserver(options: ApiserverRestartOptions = {}): Promise<RestartResult> {
  const signal = options.signal ?? 'SIGKILL';
  return restart('kube-apiserver', { ...options, signal, reason: `mid-run ${signal}${options.downtimeMs ? ` with ${options.downtimeMs} ms down` : ''}` });
}

export interface ScheduledRestart {
  /** Settles with the restart's result once it is done (rejects if the restart failed). */
  readonly done: Promise<RestartResult | undefined>;
  /** Cancels the restart if it has not begun; `done` then resolves with undefined. */
  cancel(): void;
}

/** Restarts kube-apiserver `afterMs` from now, while the caller's run goes on. */
export function restartApiserverAfter(afterMs: number, options: ApiserverRestartOptions = {}): ScheduledRestart {
  let cancel = (): void => {};
  const done = new Promise<RestartResult | undefined>((resolve, reject) => {
    const timer = setTimeout(() => restartApiserver(options).then(resolve, reject), afterMs);
    cancel = () => {
      clearTimeout(timer);
      resolve(undefined);
    };
  });
  return { done, cancel };
}
