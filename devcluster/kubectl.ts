/**
 * `npm run kubectl -- <args>`: the pinned kubectl against the local control plane's admin kubeconfig. Arguments
 * pass through untouched; the exit code (or the terminating signal) is kubectl's.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { obtainBinaries } from './binaries.ts';
import { localPaths } from './paths.ts';
import { readState } from './state.ts';

const paths = localPaths();
// The running cluster's own binaries if it is up; otherwise whatever build.sh finds (instant when cached).
let binDir: string;
try {
  binDir = readState(paths.state)?.binDir ?? (await obtainBinaries((line) => console.error(line)));
} catch {
  binDir = await obtainBinaries((line) => console.error(line));
}

if (!existsSync(paths.kubeconfig)) {
  // kubectl itself would only say the file is missing.
  console.error(`kubectl: no local cluster (${paths.kubeconfig} is missing): start one with npm run up (or npm run cluster:up for the control plane alone)`);
}
const child = spawn(join(binDir, 'kubectl'), ['--kubeconfig', paths.kubeconfig, ...process.argv.slice(2)], { stdio: 'inherit' });
// The terminal sends Ctrl-C to the whole foreground group, kubectl included; a `kill` aimed at us is passed on.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
child.on('error', (error) => {
  console.error(`kubectl: ${error.message}`);
  process.exitCode = 127;
});
child.on('exit', (code, signal) => {
  if (signal) {
    // Die of the same signal, so a caller sees what a direct kubectl run would have shown.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  }
  else process.exitCode = code ?? 1;
});
