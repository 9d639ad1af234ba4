/**
 * Obtains the control-plane binaries through devcluster/go/controlplane/build.sh: instant when they are cached, a Go build of
 * several minutes otherwise. The script's progress (stderr) is streamed line by line; its stdout is the folder.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { buildScript } from './paths.ts';

export const requiredBinaries = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'] as const;

export class BinariesError extends Error {
  override name = 'BinariesError';
}

export async function obtainBinaries(log: (line: string) => void): Promise<string> {
  const child = spawn('bash', [buildScript], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const stderrTail: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    log(line);
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new BinariesError(`devcluster/go/controlplane/build.sh exited with ${code}:\n${stderrTail.join('\n')}`);
  const binDir = stdout.trim().split('\n').at(-1) ?? '';
  const missing = requiredBinaries.filter((name) => !existsSync(join(binDir, name)));
  if (!binDir || missing.length > 0) {
    throw new BinariesError(`devcluster/go/controlplane/build.sh printed ${JSON.stringify(binDir)}, which lacks ${missing.join(', ')}`);
  }
  return binDir;
}
