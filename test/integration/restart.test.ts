/**
 * Restart without loss, tried as a user would (issue 13, item 3): `npm run up`, a rolling update on 20 nodes reconciled
 * by the daemonless functions, kube-apiserver SIGKILLed in the middle of it, `npm run cluster:up` again. The cluster
 * keeps its nodes, DaemonSet and pods, the audit webhook `npm run up` configured, and every other process; the
 * rollout completes with never two pods on a node. Then the functions are routed through the fault proxy, the API
 * server is restarted once more mid-rollout by the fault helper, and `npm run down` leaves no process behind (checked
 * by pid).
 *
 * Decision: a PRIVATE system (own folder, own ports), driven through the same entry scripts `npm run` runs, in child
 * processes with the environment a user would set. The shared system of the other integration tests is untouched.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down } from '../../devcluster/controlplane.ts';
import { faultControl } from '../../devcluster/faults/control.ts';
import { restartApiserver } from '../../devcluster/faults/restart.ts';
import { localPaths, repoRoot } from '../../devcluster/paths.ts';
import { addNodes } from '../../devcluster/simulator/nodes.ts';
import { type ClusterState, launchFile, readLaunch, readState } from '../../devcluster/state.ts';
import { apiStatus, type Clients, clientsFor, createNamespace, freePorts, uniqueName, waitFor } from '../support/cluster.ts';
import { RUN_LABEL, testDaemonSet, waitConverged } from '../support/daemon.ts';

const run = promisify(execFile);
const localDir = mkdtempSync(join(tmpdir(), 'daemonless-restart-test-'));
const paths = localPaths(localDir);
const runId = uniqueName('restart');
const name = 'agent';
const NODES = 20;
let env: NodeJS.ProcessEnv;
let admin: Clients;
let namespace: string;
let nodes: string[] = [];
/** Every pid this test saw a process of the system run under; all must be gone after `down`. */
const seenPids = new Set<number>();
let wentDown = false;

/** Runs a project entry script as `npm run …` does (same Node, repository root), with the private environment. */
async function script(args: string[], timeoutMs = 180_000): Promise<string> {
  try {
    const { stdout, stderr } = await run(process.execPath, args, { cwd: repoRoot, env, timeout: timeoutMs });
    return `${stdout}\n${stderr}`;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

function state(): ClusterState {
  const s = readState(paths.state);
  if (!s) throw new Error(`no state in ${paths.state}`);
  for (const c of s.components) seenPids.add(c.pid);
  return s;
}

const pidOf = (component: string): number => state().components.find((c) => c.name === component)!.pid;

function trackedPid(processName: string): number {
  const launch = readLaunch(launchFile(paths.run, processName));
  const pid = Number(readFileSync(launch!.pidFile, 'utf8'));
  seenPids.add(pid);
  return pid;
}

const cmdline = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
const gone = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return true;
  }
};

/** Two adjacent free ports (the functions' HTTP and HTTPS). */
async function freePortPair(): Promise<number> {
  for (;;) {
    const [port] = (await freePorts(1)) as [number];
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port + 1, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/**
 * Read, change, replace: again on a conflict, since daemonless's status writes move the DaemonSet's resourceVersion
 * at any time (the fresh-clone CI once lost this race and the rollout never started).
 */
async function setImage(image: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const ds = await admin.apps.readNamespacedDaemonSet({ namespace, name });
    ds.spec!.template.spec!.containers[0]!.image = image;
    try {
      await admin.apps.replaceNamespacedDaemonSet({ namespace, name, body: ds });
      return;
    } catch (error) {
      if (apiStatus(error) !== 409 || attempt >= 5) throw error;
    }
  }
}

const imageOf = (pod: V1Pod) => pod.spec?.containers?.[0]?.image;

/** Samples every 100 ms, tolerating the API server's absence: the most live (not terminating) pods seen on one node. */
function duplicateWatch() {
  let worst = 0;
  let samples = 0;
  let failedSamples = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const pods = (await admin.core.listNamespacedPod({ namespace, labelSelector: `app=${name}` })).items;
        const live = new Map<string, number>();
        for (const pod of pods) {
          if (pod.metadata?.deletionTimestamp || !pod.spec?.nodeName) continue;
          live.set(pod.spec.nodeName, (live.get(pod.spec.nodeName) ?? 0) + 1);
        }
        worst = Math.max(worst, ...live.values(), 0);
        samples += 1;
      } catch {
        failedSamples += 1; // the API server is down: nothing to see
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { worst, samples, failedSamples };
    },
  };
}

async function waitRolledOut(image: string, timeoutMs = 150_000): Promise<Map<string, V1Pod>> {
  return waitFor(
    `every node running ${image}`,
    async () => {
      const pods = await waitConverged(admin.core, namespace, `app=${name}`, nodes, 1_000);
      const images = [...pods.values()].map(imageOf);
      if (images.some((i) => i !== image)) throw new Error(`images: ${images.join(', ')}`);
      return pods;
    },
    { timeoutMs, intervalMs: 500 },
  );
}

async function waitUpdated(image: string, count: number): Promise<void> {
  await waitFor(`${count} pods running ${image}`, async () => {
    const pods = (await admin.core.listNamespacedPod({ namespace, labelSelector: `app=${name}` })).items;
    return pods.filter((p) => imageOf(p) === image).length >= count;
  }, { timeoutMs: 60_000, intervalMs: 100 });
}

beforeAll(async () => {
  const [apiserver, etcd, etcdPeer, scheduler, controllerManager] = (await freePorts(5)) as [number, number, number, number, number];
  const functions = await freePortPair();
  env = {
    ...process.env,
    DAEMONLESS_LOCAL_DIR: localDir,
    DAEMONLESS_APISERVER_PORT: String(apiserver),
    DAEMONLESS_ETCD_PORT: String(etcd),
    DAEMONLESS_ETCD_PEER_PORT: String(etcdPeer),
    DAEMONLESS_SCHEDULER_PORT: String(scheduler),
    DAEMONLESS_CONTROLLER_MANAGER_PORT: String(controllerManager),
    DAEMONLESS_FUNCTIONS_PORT: String(functions),
  };
  await script(['scripts/up.ts']);
  admin = clientsFor(paths.kubeconfig);
  namespace = await createNamespace(admin.core, uniqueName('restart'));
  nodes = await addNodes(admin.kc, NODES, { labels: { [RUN_LABEL]: runId } });
  await admin.apps.createNamespacedDaemonSet({ namespace, body: testDaemonSet(namespace, name, runId) });
  await waitRolledOut('registry.example/agent:1.0', 90_000);
}, 240_000);

afterAll(async () => {
  if (!wentDown) await down({ localDir, log: () => {} });
  rmSync(localDir, { recursive: true, force: true });
}, 120_000);

describe('a SIGKILLed kube-apiserver during a rollout, then `npm run cluster:up`', () => {
  let before: { nodes: Map<string, string>; daemonSetUid: string; pids: Record<string, number> };
  let upOutput = '';
  let watch: ReturnType<typeof duplicateWatch>;

  it('restarts only kube-apiserver and says so, deleting nothing', async () => {
    const nodeList = await admin.core.listNode();
    const s = state();
    before = {
      nodes: new Map(nodeList.items.map((n) => [n.metadata!.name!, n.metadata!.uid!])),
      daemonSetUid: (await admin.apps.readNamespacedDaemonSet({ namespace, name })).metadata!.uid!,
      pids: Object.fromEntries([...s.components.map((c) => [c.name, c.pid]), ['functions', trackedPid('functions')]]),
    };
    watch = duplicateWatch();
    await setImage('registry.example/agent:2.0');
    await waitUpdated('registry.example/agent:2.0', 3);

    process.kill(before.pids['kube-apiserver']!, 'SIGKILL');
    await waitFor('kube-apiserver to be gone', () => gone(before.pids['kube-apiserver']!));
    upOutput = await script(['devcluster/cli.ts', 'up']);

    expect(upOutput).toMatch(/kube-apiserver: not running \(pid \d+ is gone\): starting it with the options the cluster runs with; etcd data kept/);
    expect(upOutput).toMatch(/started again: kube-apiserver; data kept/);
    expect(upOutput).not.toMatch(/DELETING|new cluster|starting over|other options/);
    // Everything else kept running, untouched.
    const after = state();
    for (const component of ['etcd', 'kube-controller-manager', 'kube-scheduler', 'simulator']) {
      expect(after.components.find((c) => c.name === component)?.pid, component).toBe(before.pids[component]);
    }
    expect(trackedPid('functions')).toBe(before.pids['functions']);
    expect(pidOf('kube-apiserver')).not.toBe(before.pids['kube-apiserver']);
    expect(after.restarts).toContainEqual(expect.objectContaining({ name: 'kube-apiserver', previousPid: before.pids['kube-apiserver'] }));
  });

  it('keeps the nodes and the DaemonSet (same uids) and the audit webhook `npm run up` configured', async () => {
    const nodeList = await admin.core.listNode();
    expect(new Map(nodeList.items.map((n) => [n.metadata!.name!, n.metadata!.uid!]))).toEqual(before.nodes);
    expect((await admin.apps.readNamespacedDaemonSet({ namespace, name })).metadata!.uid).toBe(before.daemonSetUid);
    const args = cmdline(pidOf('kube-apiserver'));
    expect(args).toContain(`--audit-webhook-config-file=${join(paths.config, 'audit-webhook.kubeconfig')}`);
    expect(state().options.auditWebhook?.url).toBe(`https://127.0.0.1:${Number(env.DAEMONLESS_FUNCTIONS_PORT) + 1}/events/audit`);
  });

  it('finishes the rollout through the audit webhook, never two live pods on a node', async () => {
    const pods = await waitRolledOut('registry.example/agent:2.0');
    const { worst, samples, failedSamples } = await watch.stop();
    expect(pods.size).toBe(NODES);
    expect(samples).toBeGreaterThan(10);
    expect(worst).toBe(1);
    // The API server really was away for a while during the rollout.
    expect(failedSamples).toBeGreaterThan(0);
  }, 180_000);
});

describe('`npm run cluster:restart`', () => {
  it('restarts the functions server with the command and environment it was started with, still tracked', async () => {
    const previous = trackedPid('functions');
    const output = await script(['devcluster/cli.ts', 'restart', 'functions']);
    const pid = trackedPid('functions');
    expect(output).toMatch(new RegExp(`functions: pid ${previous} → ${pid}`));
    expect(gone(previous)).toBe(true);
    expect(gone(pid)).toBe(false);
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ).toContain(`KUBECONFIG=${paths.reconcilerKubeconfig}`);
    expect(environ).toContain(`BEARER_TOKEN=${readFileSync(join(localDir, 'functions.token'), 'utf8').trim()}`);
    const health = await fetch(`http://127.0.0.1:${env.DAEMONLESS_FUNCTIONS_PORT}/healthz`);
    expect(health.status).toBe(200);
  });

  it('`cluster:up` starts a killed functions server again, alone, with its recorded launch', async () => {
    const killed = trackedPid('functions');
    const apiserver = pidOf('kube-apiserver');
    process.kill(killed, 'SIGKILL');
    await waitFor('the functions server to be gone', () => gone(killed));
    const output = await script(['devcluster/cli.ts', 'up']);
    expect(output).toMatch(new RegExp(`functions: not running \\(pid ${killed} is gone\\): starting it with the command and environment it was started with`));
    expect(output).toMatch(/started again: functions; data kept/);
    expect(gone(trackedPid('functions'))).toBe(false);
    expect(pidOf('kube-apiserver')).toBe(apiserver);
  });

  it('names what runs when asked for something that does not', async () => {
    await expect(script(['devcluster/cli.ts', 'restart', 'kubelet'])).rejects.toThrow(
      /no component named "kubelet" runs in .*; it runs: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, simulator, functions/,
    );
  });
});

describe('the functions through the fault proxy, and kube-apiserver restarted mid-rollout by the fault helper', () => {
  it('routes the running functions through the proxy (restarting them) and keeps the proxy tracked', async () => {
    const previous = trackedPid('functions');
    // startSystem as `npm run up` calls it, plus the proxy: 10 % of writes answered 503 before reaching the API server.
    const config = { rules: [{ name: 'writes', match: { verbs: ['write'] }, rates: { '503': 0.1 } }], seed: 13 };
    const code = `const { startSystem } = await import(${JSON.stringify(join(repoRoot, 'devcluster', 'system.ts'))});
      const s = await startSystem({ faultProxy: { config: ${JSON.stringify(config)} } });
      console.log('SYSTEM ' + JSON.stringify(s.faultProxy));`;
    const output = await script(['--input-type=module', '-e', code]);
    expect(output).toMatch(/functions: stopping pid \d+ to start them with KUBECONFIG .*fault-proxy\.kubeconfig/);
    const proxy = JSON.parse(/SYSTEM (.*)/.exec(output)![1]!) as { url: string; controlUrl: string; kubeconfig: string };
    expect(gone(previous)).toBe(true);
    const pid = trackedPid('functions');
    expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain(`KUBECONFIG=${proxy.kubeconfig}`);
    expect(gone(trackedPid('fault-proxy'))).toBe(false);
    expect(await faultControl(proxy.controlUrl).config()).toMatchObject({ seed: 13, rules: [{ name: 'writes' }] });
  });

  it('rolls out again through injected 503s and a SIGKILL of kube-apiserver with 2 s down, never two live pods on a node', async () => {
    const launch = readLaunch(launchFile(paths.run, 'fault-proxy'))!;
    const control = faultControl(launch.healthUrl!.replace('/healthz', ''));
    await control.resetCounters();
    const watch = duplicateWatch();
    await setImage('registry.example/agent:3.0');
    await waitUpdated('registry.example/agent:3.0', 3);
    const restarted = await restartApiserver({ localDir, downtimeMs: 2_000, log: () => {} });
    seenPids.add(restarted.pid);
    expect(restarted).toMatchObject({ name: 'kube-apiserver', stopped: 'killed' });
    expect(restarted.outageSeconds).toBeGreaterThanOrEqual(2);
    await waitRolledOut('registry.example/agent:3.0');
    const { worst } = await watch.stop();
    expect(worst).toBe(1);
    const counters = await control.counters();
    process.stderr.write(
      `[restart test] kube-apiserver out ${restarted.outageSeconds} s (ready ${restarted.readySeconds} s after start); proxy: ` +
        `${counters.requests} requests, ${counters.faults['503']} answered 503, ${counters.upstreamErrors} upstream errors\n`,
    );
    // Writes went through the proxy, some were refused with 503, and the rollout completed anyway.
    expect(counters.faults['503']).toBeGreaterThan(0);
    expect(counters.passed).toBeGreaterThan(counters.faults['503']);
  }, 240_000);

  it('`cluster:restart -- fault-proxy` brings it back on its ports with the rules last set', async () => {
    const launch = readLaunch(launchFile(paths.run, 'fault-proxy'))!;
    const control = faultControl(launch.healthUrl!.replace('/healthz', ''));
    await control.setConfig({ rules: [{ name: 'set while running', match: { verbs: ['list'] }, rates: { slow: 0.01 } }], seed: 21 });
    const previous = trackedPid('fault-proxy');
    const restartStarted = Date.now();
    const output = await script(['devcluster/cli.ts', 'restart', 'fault-proxy']);
    expect(output).toMatch(new RegExp(`fault-proxy: pid ${previous} → ${trackedPid('fault-proxy')}`));
    expect(await control.config()).toMatchObject({ seed: 21, rules: [{ name: 'set while running' }] });
    // Counters live in memory: they start over with the process.
    expect(Date.parse((await control.counters()).since)).toBeGreaterThan(restartStarted);
  });
});

describe('`npm run cluster:up -- --fresh`', () => {
  it('deletes the data, saying so, and starts an empty cluster with the same options and ports; the functions stay tracked', async () => {
    const functions = trackedPid('functions');
    const proxy = trackedPid('fault-proxy');
    const before = state();
    for (const r of before.restarts) [r.pid, r.previousPid].forEach((p) => p !== null && seenPids.add(p));
    const output = await script(['devcluster/cli.ts', 'up', '--fresh']);
    expect(output).toMatch(/--fresh: stopping the control plane in .* and DELETING its data \(etcd\)/);
    const after = state();
    expect(after.ports).toEqual(before.ports);
    expect(after.options).toEqual(before.options);
    expect(cmdline(pidOf('kube-apiserver'))).toContain('--audit-webhook-config-file=');
    expect((await admin.core.listNode()).items.filter((n) => nodes.includes(n.metadata!.name!))).toEqual([]);
    await expect(admin.apps.readNamespacedDaemonSet({ namespace, name })).rejects.toThrow();
    expect(trackedPid('functions')).toBe(functions);
    expect(trackedPid('fault-proxy')).toBe(proxy);
    expect(gone(functions)).toBe(false);
  }, 120_000);
});

describe('`npm run down`', () => {
  it('stops every process the system ran, across all restarts, and removes the cluster', async () => {
    for (const c of state().components) seenPids.add(c.pid);
    for (const r of state().restarts) [r.pid, r.previousPid].forEach((p) => p !== null && seenPids.add(p));
    trackedPid('functions');
    trackedPid('fault-proxy');
    const output = await script(['scripts/down.ts']);
    wentDown = true;
    expect(output).toMatch(/stopped fault-proxy/);
    expect(output).toMatch(/stopped kube-apiserver/);
    await waitFor('every pid to be gone', () => [...seenPids].every(gone), { timeoutMs: 10_000 });
    expect([...seenPids].filter((pid) => !gone(pid))).toEqual([]);
    // 5 components, 2 restarts of kube-apiserver, 3 functions servers, 1 fault proxy.
    expect(seenPids.size).toBeGreaterThanOrEqual(11);
    expect(existsSync(paths.run)).toBe(false);
    expect(existsSync(paths.etcdData)).toBe(false);
  }, 120_000);
});
