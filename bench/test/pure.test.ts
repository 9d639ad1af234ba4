import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { apiCost, type MetricsSnapshot } from '../lib/apf.ts';
import { ArgsError, parseArgs } from '../lib/args.ts';
import { progress, stages, waitConverged, type Observer } from '../lib/observer.ts';
import { diffBy, parseCounters } from '../lib/prom.ts';
import { classifyProcess, cpuSeconds, ticksOfStat, type CpuSnapshot } from '../lib/cpu.ts';
import { cpuSection, markdown, svgChart } from '../lib/report.ts';
import { checkTargets, type BenchResults } from '../lib/results.ts';
import { percentile, ratio, summarize } from '../lib/stats.ts';

describe('parseArgs', () => {
  it.each([
    ['defaults', [], { nodes: 100, runtime: 'server', systems: ['daemonless', 'upstream', 'raised'], joinReadyMs: 0, complete: true }],
    ['the Lambda runtime beside the server and upstream', ['--runtime', 'lambda'], { runtime: 'lambda', systems: ['daemonless', 'lambda', 'upstream'], complete: true }],
    ['only the Lambda runtime', ['--only', 'lambda'], { systems: ['lambda'], complete: false }],
    ['memory sweep sizes', ['--memory-nodes', '10,20'], { memoryNodes: [10, 20] }],
    ['large', ['--large'], { nodes: 1000, large: true, complete: true }],
    ['nodes override', ['--nodes', '20'], { nodes: 20, complete: false }],
    ['inline value', ['--nodes=30'], { nodes: 30 }],
    ['only a system', ['--only', 'daemonless'], { systems: ['daemonless'], complete: false }],
    ['joins that turn Ready later: not a stored full run', ['--join-ready-ms', '1500'], { joinReadyMs: 1500, complete: false }],
    ['joins Ready at creation, the default given', ['--join-ready-ms', '0'], { joinReadyMs: 0 }],
    ['events by admission webhook: not a stored full run', ['--delivery', 'admission'], { delivery: 'admission', complete: false }],
  ])('%s', (_name, argv, expected) => {
    expect(parseArgs(argv)).toMatchObject(expected);
  });

  it('--only splits systems from phases; no phase named means all phases', () => {
    const args = parseArgs(['--only', 'a,upstream']);
    expect(args.systems).toEqual(['upstream']);
    expect([...args.phases]).toEqual(['a']);
    expect([...parseArgs(['--only', 'raised']).phases]).toEqual(['a', 'b', 'c', 'latency', 'change', 'minready', 'lists', 'memory', 'floor', 'cold']);
  });

  it.each([[['--nodes', '0']], [['--nodes', 'x']], [['--only', 'd']], [['--what']], [['--runtime', 'knative']], [['--memory-nodes', '10,x']], [['--lambda-heap-mb', '211']], [['--delivery', 'watch']], [['--join-ready-ms', '-1']], [['--join-ready-ms', 'x']]])('rejects %j', (argv) => {
    expect(() => parseArgs(argv)).toThrow(ArgsError);
  });
});

describe('stats', () => {
  it('interpolates percentiles between ranks', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10], 99)).toBe(10);
    expect(percentile([], 50)).toBeUndefined();
    expect(summarize([3, 1, 2])).toMatchObject({ n: 3, p50: 2, min: 1, max: 3, mean: 2 });
  });
  it('ratio is undefined when a side is missing or zero', () => {
    expect(ratio(1, 4)).toBe(0.25);
    expect(ratio(undefined, 4)).toBeUndefined();
    expect(ratio(1, 0)).toBeUndefined();
  });
});

const exposition = (n: number, m: number) => `
# HELP apiserver_request_total Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} ${n}
apiserver_request_total{code="200",component="apiserver",group="apps",resource="daemonsets",scope="resource",subresource="status",verb="PUT",version="v1"} 7
apiserver_request_total{code="200",component="",group="",resource="",scope="",subresource="/healthz",verb="GET",version=""} 1
apiserver_flowcontrol_dispatched_requests_total{flow_schema="bench-daemonless-list",priority_level="global-default"} ${m}
apiserver_flowcontrol_dispatched_requests_total{flow_schema="bench-daemonless-create",priority_level="global-default"} ${n}
apiserver_flowcontrol_dispatched_requests_total{flow_schema="exempt",priority_level="exempt"} 100
apiserver_other_total{a="b"} 5
`;

describe('prometheus counters', () => {
  it('parses only the named counters, with labels', () => {
    const parsed = parseCounters(exposition(3, 2), ['apiserver_request_total']);
    expect(parsed.get('apiserver_request_total')).toHaveLength(3);
    expect(parsed.get('apiserver_request_total')?.[0]).toEqual({
      labels: expect.objectContaining({ resource: 'pods', verb: 'POST', code: '201' }),
      value: 3,
    });
  });
  it('diffs by labels and drops unchanged rows', () => {
    const before = parseCounters(exposition(3, 2), ['apiserver_request_total']).get('apiserver_request_total')!;
    const after = parseCounters(exposition(10, 2), ['apiserver_request_total']).get('apiserver_request_total')!;
    expect(diffBy(before, after, ['resource', 'verb'])).toEqual([{ labels: { resource: 'pods', verb: 'POST' }, value: 7 }]);
  });
  it('attributes requests to identities through the bench FlowSchemas', () => {
    const snap = (n: number, m: number, at: number): MetricsSnapshot => {
      const c = parseCounters(exposition(n, m), ['apiserver_request_total', 'apiserver_flowcontrol_dispatched_requests_total']);
      return { at, requests: c.get('apiserver_request_total')!, dispatched: c.get('apiserver_flowcontrol_dispatched_requests_total')! };
    };
    const cost = apiCost(snap(3, 2, 0), snap(10, 5, 1000));
    expect(cost.byIdentity.daemonless).toEqual({ reads: 3, writes: 7, byVerb: { list: 3, create: 7 } });
    expect(cost.byIdentity['daemonset-controller']).toEqual({ reads: 0, writes: 0, byVerb: {} });
    expect(cost.total).toBe(7);
    expect(cost.byVerbResource).toEqual([{ verb: 'POST', resource: 'pods', requests: 7 }]);
  });
});

const pod = (node: string, owner: string, opts: { ready?: boolean; image?: string; deleting?: boolean } = {}): V1Pod => ({
  metadata: {
    uid: `${node}-${owner}-${Math.random()}`,
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: owner, uid: owner, controller: true }],
    ...(opts.deleting ? { deletionTimestamp: new Date() } : {}),
  },
  spec: { nodeName: node, containers: [{ name: 'c', image: opts.image ?? 'img:1' }] },
  status: { conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
});

describe('progress (convergence condition)', () => {
  const want = { daemonSets: [{ uid: 'ds1' }, { uid: 'ds2' }], nodes: ['n1', 'n2'] };
  it.each([
    ['every node has one Ready pod of each', [pod('n1', 'ds1'), pod('n1', 'ds2'), pod('n2', 'ds1'), pod('n2', 'ds2')], 2],
    ['a pod missing', [pod('n1', 'ds1'), pod('n1', 'ds2'), pod('n2', 'ds1')], 1],
    ['a pod not Ready', [pod('n1', 'ds1'), pod('n1', 'ds2', { ready: false }), pod('n2', 'ds1'), pod('n2', 'ds2')], 1],
    // Exactly one: a terminating duplicate still counts against the node.
    ['a terminating extra pod', [pod('n1', 'ds1'), pod('n1', 'ds1', { deleting: true }), pod('n1', 'ds2'), pod('n2', 'ds1'), pod('n2', 'ds2')], 1],
    ['pods of other owners and nodes are ignored', [pod('n1', 'ds1'), pod('n1', 'ds2'), pod('n2', 'ds1'), pod('n2', 'ds2'), pod('n3', 'ds1'), pod('n1', 'x')], 2],
  ])('%s', (_name, pods, satisfied) => {
    expect(progress(pods, want)).toEqual({ satisfied, total: 2 });
  });
  it('checks the image when asked', () => {
    const w = { daemonSets: [{ uid: 'ds1', image: 'img:2' }], nodes: ['n1', 'n2'] };
    expect(progress([pod('n1', 'ds1', { image: 'img:2' }), pod('n2', 'ds1')], w)).toEqual({ satisfied: 1, total: 2 });
  });
});

describe('waitConverged', () => {
  const idle = { pods: new Map(), podTimes: new Map(), nodes: new Map(), lastEventAt: 0, lastPodEventAt: 0 } as unknown as Observer;
  const want = () => ({ daemonSets: [{ uid: 'ds1' }], nodes: ['n1'] });
  it('calls a quiet system stalled', async () => {
    const outcome = await waitConverged(idle, want, { timeoutMs: 1_000, stallMs: 60, tickMs: 10 });
    expect(outcome.status).toBe('stalled');
  });
  it('does not call a system stalled while it is still working; the timeout bounds the wait', async () => {
    let work = 0;
    const outcome = await waitConverged(idle, want, { timeoutMs: 200, stallMs: 60, tickMs: 10, activity: () => ++work });
    expect(outcome.status).toBe('timeout');
  });
});

describe('stages', () => {
  it('takes the last created, bound and Ready time of the new pods of the shape', () => {
    const times = [
      { ownerUid: 'ds1', image: 'img:2', seen: 1100, bound: 1300, ready: 1900 },
      { ownerUid: 'ds1', image: 'img:2', seen: 1500, bound: 1600 },
      { ownerUid: 'ds1', image: 'img:1', seen: 1200, bound: 5000, ready: 9000 }, // old image
      { ownerUid: 'ds1', image: 'img:2', seen: 900, bound: 950, ready: 9999 }, // before the trigger
      { ownerUid: 'other', image: 'img:2', seen: 1100, bound: 8000, ready: 8000 },
    ];
    expect(stages(times, 1000, [{ uid: 'ds1', image: 'img:2' }])).toEqual({ pods: 2, created: 0.5, bound: 0.6, ready: 0.9 });
    expect(stages(times, 1000, [{ uid: 'nobody' }])).toBeUndefined();
  });
});

describe('CPU by component', () => {
  it.each([
    ['/root/.cache/daemonless/k8s-v1.37.2-etcd-v3.7.0/kube-apiserver --etcd-servers=http://127.0.0.1:28379 ', 'kube-apiserver'],
    ['/root/.cache/daemonless/k8s-v1.37.2-etcd-v3.7.0/etcd --name=daemonless --data-dir=/tmp/x ', 'etcd'],
    ['/c/kube-scheduler --kubeconfig=/x ', 'kube-scheduler'],
    ['/c/kube-controller-manager --kubeconfig=/x ', 'kube-controller-manager'],
    ['/w/node_modules/node/bin/node /w/devcluster/simulator/main.ts ', 'simulator'],
    ['/w/node_modules/node/bin/node /w/devcluster/lambda/main.ts /w/.local/lambda/options.json ', 'Lambda service'],
    ['/c/rie-v0/aws-lambda-rie --log-level warn --runtime-interface-emulator-address 127.0.0.1:1 ', 'RIE'],
    ['/w/node_modules/node/bin/node --expose-gc /w/node_modules/aws-lambda-ric/index.mjs index.handler ', 'functions'],
    ['/w/node_modules/node/bin/node src/local/serve.ts ', 'functions'],
    ['java -Xmx256m -XX:+UseSerialGC -Dconfig.file=/x/elasticmq.conf -cp /a.jar org.elasticmq.server.Main ', 'ElasticMQ'],
    ['/w/node_modules/node/bin/node bench/run.ts --nodes 30 ', 'bench'],
    ['bash -c etcd-backup ', undefined],
    ['/usr/bin/node other.js ', undefined],
  ])('%s → %s', (cmdline, group) => {
    expect(classifyProcess(cmdline)).toBe(group);
  });
  it('reads utime + stime from a stat line whose command holds spaces and parentheses', () => {
    const stat = '42 (node (x) y) S 1 42 42 0 -1 4194304 100 0 0 0 250 37 0 0 20 0 11 0 1000 100 10';
    expect(ticksOfStat(stat)).toBe(287);
  });
  it('sums by component; a process started in the window counts from zero, one whose pid was reused by another component too', () => {
    const before: CpuSnapshot = new Map([
      [1, { group: 'kube-apiserver', ticks: 1000 }],
      [2, { group: 'functions', ticks: 50 }],
      [9, { group: 'bench', ticks: 10 }],
    ]);
    const after: CpuSnapshot = new Map([
      [1, { group: 'kube-apiserver', ticks: 1500 }],
      [2, { group: 'RIE', ticks: 30 }],
      [3, { group: 'functions', ticks: 70 }],
      [9, { group: 'bench', ticks: 10 }],
    ]);
    expect(cpuSeconds(before, after)).toEqual({ 'kube-apiserver': 5, RIE: 0.3, functions: 0.7 });
  });
});

describe('reports', () => {
  const shape = (s: 'a' | 'b' | 'c', seconds: number, status: 'converged' | 'stalled' = 'converged') => ({
    shape: s,
    nodes: 100,
    daemonSets: s === 'b' ? 3 : 1,
    status,
    seconds,
    satisfiedNodes: status === 'converged' ? 100 : 40,
  });
  const results: BenchResults = {
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:05:00.000Z',
    durationSeconds: 300,
    command: 'npm run bench',
    args: {
      nodes: 100,
      large: false,
      runtime: 'server',
      systems: ['daemonless', 'upstream'],
      phases: ['a', 'b', 'c'],
      latencySamples: 30,
      joinReadyMs: 0,
      delivery: 'audit',
      changeSamples: 5,
      memoryNodes: [100],
      lambdaHeapMb: undefined,
      coldReps: 15,
      raisedQps: undefined,
      stallSeconds: 20,
      complete: true,
    },
    git: { commit: '0123456789abcdef', dirtyProductFiles: [] },
    machine: { cpus: 2, node: 'v22', loadAverageAtStart: [1, 1, 1], otherControlPlanes: 0 },
    localDir: '/tmp/x',
    systems: [
      { kind: 'daemonless', label: 'daemonless', loadAverageAtStart: [1], shapes: [shape('a', 2), shape('b', 4), shape('c', 30, 'stalled')] },
      { kind: 'upstream', label: 'upstream QPS 20/30', loadAverageAtStart: [1], shapes: [shape('a', 5), shape('b', 16), shape('c', 20)] },
    ],
    floor: { concurrency: 24, seconds: { a: 0.5, b: 1.5, c: 1 }, writes: { a: 100, b: 300, c: 200 }, createsPerSecond: 200, rolloutPacing: { rounds: 10, seconds: 7, perRoundMs: 700 }, on: 'upstream QPS 20/30' },
    targets: [],
    notes: [],
  };
  it('prints ratios against the baseline of the same run, and says when a shape did not converge', () => {
    const md = markdown({ ...results, targets: checkTargets(results) });
    expect(md).toContain('| shape | N | pod writes | daemonless | upstream QPS 20/30 | plain-client floor | daemonless ÷ upstream | daemonless ÷ floor |');
    expect(md).toContain('| (a) new DaemonSet on N nodes | 100 | 100 | 2.00 | 5.00 | 0.50 | 0.40× | 4.00× |');
    expect(md).toContain('stalled 40/100 after 30.0');
    expect(md).toContain('7.00 (paced; writes 1.00)');
  });
  it('checks the minReadySeconds rollout against upstream (issue 9: within 1.2×), and says when it did not converge', () => {
    const minReady = (seconds: number, status: 'converged' | 'stalled' = 'converged') => ({ nodes: 5, minReadySeconds: 10, status, seconds });
    const lambda = { kind: 'lambda' as const, label: 'daemonless-lambda', loadAverageAtStart: [1], shapes: [], minReady: minReady(64) };
    const withMinReady: BenchResults = {
      ...results,
      systems: [
        { ...results.systems[0]!, minReady: minReady(55) },
        { ...results.systems[1]!, minReady: minReady(52) },
        lambda,
      ],
    };
    const rows = checkTargets(withMinReady).filter((t) => t.target.includes('minReadySeconds'));
    expect(rows.map((r) => [r.met, r.measured])).toEqual([
      [true, '55.0 s vs 52.0 s = 1.06× (bound 40 s)'],
      [false, '64.0 s vs 52.0 s = 1.23× (bound 40 s)'],
    ]);
    const stalled = { ...withMinReady, systems: [withMinReady.systems[0]!, withMinReady.systems[1]!, { ...lambda, minReady: minReady(90, 'stalled') }] };
    expect(checkTargets(stalled).filter((t) => t.target.includes('minReadySeconds')).map((r) => r.met)).toEqual([true, false]);
    expect(markdown({ ...withMinReady, targets: checkTargets(withMinReady) })).toContain('| daemonless-lambda | 5 | 10 | converged | 64.0 | 40 | 1.23× |');
  });
  const emptyMetrics: MetricsSnapshot = { at: 0, requests: [], dispatched: [] };
  it('tables CPU by component per shape, with the machine\'s share busy and the local AWS stand-ins\' share', () => {
    const cpu = { 'kube-apiserver': 8, functions: 3, 'Lambda service': 1, RIE: 0.2, ElasticMQ: 0.8 };
    const withCpu: BenchResults = {
      ...results,
      systems: [{ ...results.systems[0]!, shapes: [{ ...shape('a', 2), window: { cost: apiCost(emptyMetrics, emptyMetrics), cpu, seconds: 10 } }] }],
    };
    const lines = cpuSection(withCpu);
    expect(lines).toContain('| shape | system | window s | kube-apiserver | functions | Lambda service | RIE | ElasticMQ | busy | local AWS |');
    // 13 CPU-seconds in 10 s on 2 cores; the stand-ins 2 of them.
    expect(lines).toContain('| a | daemonless | 10.0 | 8.0 | 3.0 | 1.0 | 0.2 | 0.8 | 65 % | 10 % |');
    expect(cpuSection(results)).toEqual([]);
  });
  it('draws one bar per system and the floor, a hatched bar for what did not converge', () => {
    const svg = svgChart(results);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<rect x="190"/g)).toHaveLength(9);
    expect(svg).toContain('url(#hatch)');
    expect(svg).toContain('0.40× upstream');
  });
});
