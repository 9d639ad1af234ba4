/**
 * How the nodejs22.x runtime starts node (its /var/runtime/bootstrap): V8's heap sized from the function's memory on
 * node's command line, where it wins over NODE_OPTIONS, and the command run through `AWS_LAMBDA_EXEC_WRAPPER` when the
 * function names one. The local runtime starts its runtime processes the same way, so that a function's V8 flags have
 * the effect here that they have on Lambda (none, from NODE_OPTIONS, for the heap sizes).
 */
import { join } from 'node:path';
import type { InstanceSpec } from './instance.ts';

/** The bootstrap's node flags for a function of `memorySizeMb`: a tenth for the young generation, the rest old. */
export function bootstrapNodeArgs(memorySizeMb: number): string[] {
  const newSpace = Math.floor(memorySizeMb / 10);
  return ['--expose-gc', '--max-http-header-size', '81920', `--max-semi-space-size=${Math.floor(newSpace / 2)}`, `--max-old-space-size=${memorySizeMb - newSpace}`];
}

/**
 * The runtime process's command: node, the bootstrap's flags, the runtime client and the handler; behind the exec
 * wrapper when the environment names one (a /var/task path is a file of the function's code).
 */
export function runtimeCommand(spec: Pick<InstanceSpec, 'nodePath' | 'ricEntry' | 'handler' | 'memorySize' | 'codeDir' | 'environment'>): string[] {
  const command = [spec.nodePath, ...bootstrapNodeArgs(spec.memorySize), spec.ricEntry, spec.handler];
  const wrapper = spec.environment['AWS_LAMBDA_EXEC_WRAPPER'];
  if (!wrapper) return command;
  return [wrapper.startsWith('/var/task/') ? join(spec.codeDir, wrapper.slice('/var/task/'.length)) : wrapper, ...command];
}
