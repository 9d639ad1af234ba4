/**
 * How the nodejs22.x runtime starts node (its /var/runtime/bootstrap): V8's heap sized from the function's memory on
 * node's command line, where it wins over NODE_OPTIONS, and the command run through `AWS_LAMBDA_EXEC_WRAPPER` when the
 * function names one. The local runtime starts its runtime processes the same way, so that a function's V8 flags have
 * the effect here that they have on Lambda (none, from NODE_OPTIONS, for the heap sizes).
 */
import { join } from 'node:path';

/** The bootstrap's node flags for a function of `memorySizeMb`: a tenth for the young generation, the rest old. */
export function bootstrapNodeArgs(memorySizeMb: number): string[] {
  const newSpace = Math.floor(memorySizeMb / 10);
  return ['--expose-gc', '--max-http-header-size', '81920', `--max-semi-space-size=${Math.floor(newSpace / 2)}`, `--max-old-space-size=${memorySizeMb - newSpace}`];
}

/** What the command is made of: the parts of an instance's spec (instance.ts `InstanceSpec`) it reads. */
export interface RuntimeCommandSpec {
  nodePath: string;
  ricEntry: string;
  handler: string;
  memorySize: number;
  /** Folder holding the function's code (LAMBDA_TASK_ROOT): where a /var/task path points. */
  codeDir: string;
  environment: Record<string, string>;
}

/**
 * The runtime process's command: node, the bootstrap's flags, the runtime client and the handler; behind the exec
 * wrapper when the environment names one (a /var/task path is a file of the function's code).
 */
export function runtimeCommand(spec: RuntimeCommandSpec): string[] {
  const command = [spec.nodePath, ...bootstrapNodeArgs(spec.memorySize), spec.ricEntry, spec.handler];
  const wrapper = spec.environment['AWS_LAMBDA_EXEC_WRAPPER'];
  if (!wrapper) return command;
  return [wrapper.startsWith('/var/task/') ? join(spec.codeDir, wrapper.slice('/var/task/'.length)) : wrapper, ...command];
}
