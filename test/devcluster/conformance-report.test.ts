import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ConformanceRun,
  type SpecResult,
  failureSummary,
  failureDetails,
  isProgressLine,
  lastStepBeforeFailure,
  parseJUnit,
  renderMarkdown,
  runFailed,
  shortName,
  summaryTable,
  unescapeXml,
} from '../../devcluster/conformance-report.ts';

/** A DaemonSet spec's full text as Ginkgo reports it: container, text, then the Serial label inline. */
const ds = (text: string) => `[sig-apps] Daemon set ${text} [Serial]`;

/** A testcase as Ginkgo's JUnit reporter writes it (encoding/xml escaping: newlines as &#xA;, quotes as &#34;). */
function testcase(name: string, status: string, time: number, failure?: string): string {
  const attrs = `name="${name}" classname="Kubernetes e2e suite" status="${status}" time="${time}"`;
  const escape = (s: string) =>
    s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&#34;').replaceAll("'", '&#39;').replaceAll('\n', '&#xA;');
  const body =
    status === 'skipped'
      ? '<skipped message="skipped"></skipped>'
      : failure !== undefined
        ? `<failure type="${status}">${escape(failure)}</failure>`
        : '';
  return `      <testcase ${attrs}>${body}</testcase>`;
}

function junit(cases: string[], properties = { SuiteSucceeded: 'false', RandomSeed: '1764489600' }): string {
  const props = Object.entries(properties)
    .map(([name, value]) => `              <property name="${name}" value="${value}"></property>`)
    .join('\n');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '  <testsuites tests="4" disabled="1" errors="0" failures="1" time="331.2">',
    '      <testsuite name="Kubernetes e2e suite" package="/tmp" tests="4" disabled="0" skipped="1" errors="0" failures="1" time="331.2" timestamp="2026-11-30T07:00:00">',
    '          <properties>',
    props,
    '          </properties>',
    ...cases,
    '      </testsuite>',
    '  </testsuites>',
  ].join('\n');
}

const retryFailure = [
  '[FAILED] error waiting for the failed daemon pod to be completely deleted: context deadline exceeded',
  'In [It] at: k8s.io/kubernetes/test/e2e/apps/daemon_set.go:333 @ 11/30/26 07:05:00.1',
  '',
  'Full Stack Trace',
  '  k8s.io/kubernetes/test/e2e/apps.init.func3.5({0x7f…})',
].join('\n');

describe('parseJUnit', () => {
  const report = parseJUnit(
    junit([
      testcase('[SynchronizedBeforeSuite]', 'passed', 0.2),
      testcase(`[It] ${ds('should run and stop simple daemon [Conformance]')}`, 'passed', 12.5),
      testcase(`[It] ${ds('should retry creating failed daemon pods [Conformance]')}`, 'failed', 300.4, retryFailure),
      testcase('[It] [sig-network] Services should serve a basic endpoint from pods [Conformance]', 'skipped', 0),
      testcase('[ReportAfterSuite] Kubernetes e2e JUnit report', 'passed', 0.1),
    ]),
  );

  it('keeps the [It] specs that ran, without the leaf-node prefix, with status and duration', () => {
    expect(report.specs.map(({ name, status, seconds }) => ({ name, status, seconds }))).toEqual([
      { name: ds('should run and stop simple daemon [Conformance]'), status: 'passed', seconds: 12.5 },
      { name: ds('should retry creating failed daemon pods [Conformance]'), status: 'failed', seconds: 300.4 },
    ]);
  });

  it("decodes the failure description (Ginkgo omits the message attribute; the element's text holds it)", () => {
    expect(report.specs[1]?.failure).toBe(retryFailure);
    expect(report.specs[0]?.failure).toBeUndefined();
  });

  it('reads the seed and whether the suite succeeded', () => {
    expect(report.seed).toBe(1764489600);
    expect(report.suiteSucceeded).toBe(false);
  });

  it('reports a failed suite-level node (a broken setup fails the run even when no spec failed)', () => {
    const broken = parseJUnit(
      junit([testcase('[SynchronizedBeforeSuite]', 'failed', 600, '[FAILED] Error waiting for all pods to be running and ready')]),
    );
    expect(broken.specs).toEqual([]);
    expect(broken.setupFailures).toEqual([
      { name: '[SynchronizedBeforeSuite]', status: 'failed', seconds: 600, failure: '[FAILED] Error waiting for all pods to be running and ready' },
    ]);
  });

  it.each([
    ['timedout', true],
    ['interrupted', true],
    ['panicked', true],
    ['pending', false], // not run: left out like skipped ones
  ])('a spec with status %s is kept: %s', (status, kept) => {
    const parsed = parseJUnit(junit([testcase(`[It] ${ds('x')}`, status, 1, status === 'pending' ? undefined : `[${status.toUpperCase()}] x`)]));
    expect(parsed.specs.length).toBe(kept ? 1 : 0);
  });

  it('rejects what is not a JUnit report, and an unknown status, by name', () => {
    expect(() => parseJUnit('<html></html>')).toThrow(/not a JUnit report/);
    expect(() => parseJUnit(junit([testcase(`[It] ${ds('x')}`, 'exploded', 1)]))).toThrow(/unknown status "exploded"/);
  });
});

describe('parseJUnit on a report e2e.test wrote (trimmed)', () => {
  const report = parseJUnit(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'conformance', 'junit-daemonless.xml'), 'utf8'));

  it('finds the ten DaemonSet specs, six passed and four failed, and no failed setup node', () => {
    expect(report.specs).toHaveLength(10);
    expect(report.specs.filter((spec) => spec.status === 'passed')).toHaveLength(6);
    expect(report.specs.filter((spec) => spec.status === 'failed').map((spec) => shortName(spec.name))).toEqual([
      'should not update pod when spec was updated and update strategy is OnDelete',
      'should retry creating failed daemon pods [Conformance]',
      'should surge pods onto nodes when spec was updated and update strategy is RollingUpdate',
      'should update pod when spec was updated and update strategy is RollingUpdate [Conformance]',
    ]);
    expect(report.setupFailures).toEqual([]);
    expect(report.seed).toBe(1796024796);
    expect(report.suiteSucceeded).toBe(false);
  });

  it('keeps each failure with the step it failed in', () => {
    const retry = report.specs.find((spec) => spec.name.includes('should retry creating failed daemon pods'));
    expect(retry?.seconds).toBeCloseTo(301.67, 2);
    expect(retry?.failure).toMatch(/^\[FAILED\] error waiting for the failed daemon pod to be completely deleted: failed to get failed daemon pod "daemon-set-4hvc62x22k"/);
    expect(retry?.lastStep).toBe('Wait for the failed daemon pod to be completely deleted. (daemon_set.go:330)');
    const onDelete = report.specs.find((spec) => spec.name.includes('OnDelete'));
    expect(onDelete?.failure).toMatch(/^\[FAILED\] Expected\n    <int>: 0\nto equal\n    <int>: 1\nIn \[It\] at: .*daemon_set.go:1276/);
    expect(onDelete?.lastStep).toBe('Check that daemon pods launch on every node of the cluster. (daemon_set.go:346)');
  });
});

describe('lastStepBeforeFailure', () => {
  it.each([
    [
      'the step before the first failure, with its file:line',
      ['STEP: a - k8s.io/kubernetes@v1.37.2/test/e2e/apps/daemon_set.go:310 @ 11/30/26 07:46:58.382', 'STEP: b - x/daemon_set.go:314 @ t', '[FAILED] boom', 'STEP: cleanup - x/y.go:1 @ t'],
      'b (daemon_set.go:314)',
    ],
    ['a step without location', ['STEP: plain', '[TIMEDOUT] late'], 'plain'],
    ['no step', ['[FAILED] boom'], undefined],
  ])('%s', (_, lines, expected) => expect(lastStepBeforeFailure(lines.join('\n'))).toBe(expected));
});

describe('unescapeXml', () => {
  it.each([
    ['&lt;a&gt; &amp; &quot;b&quot; &apos;c&apos;', `<a> & "b" 'c'`],
    ['&#34;x&#34;&#xA;&#x9;y', '"x"\n\ty'],
    ['&unknown; stays', '&unknown; stays'],
  ])('%s', (input, expected) => expect(unescapeXml(input)).toBe(expected));
});

describe('isProgressLine', () => {
  it.each([
    ['[sig-apps] Daemon set should run and stop simple daemon [Conformance] [Serial] [sig-apps, Serial, Conformance]', true],
    ['  STEP: Creating simple DaemonSet "daemon-set" @ 11/30/26 07:00:01.2', true],
    ['• [12.345 seconds]', true],
    ['• [FAILED] [300.412 seconds]', true],
    ['  [FAILED] error waiting for the failed daemon pod to be completely deleted: context deadline exceeded', true],
    ['Ran 10 of 7384 Specs in 331.201 seconds', true],
    ['FAIL! -- 6 Passed | 4 Failed | 0 Pending | 7374 Skipped', true],
    ['  I1130 07:00:03.123456 12345 daemon_set.go:92] Number of nodes with available pods controlled by daemonset daemon-set: 0', false],
    ['  I1130 07:00:03.2 Node sim-abc-0 is running 0 daemon pod, expected 1', false],
  ])('%s → %s', (line, shown) => expect(isProgressLine(line)).toBe(shown));
});

describe('failureSummary', () => {
  it('keeps the assertion and location, drops the stack', () => {
    expect(failureSummary(retryFailure)).toBe(retryFailure.split('\n\nFull Stack Trace')[0]);
  });

  it('caps long descriptions', () => {
    const long = Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n');
    expect(failureSummary(long, 3)).toBe('line 0\nline 1\nline 2\n… (17 more lines)');
  });
});

function run(system: string, specs: SpecResult[], overrides: Partial<ConformanceRun> = {}): ConformanceRun {
  return {
    system,
    systemOptions: { reused: false },
    kubernetes: 'v1.37.2',
    commit: '0123456789abcdef',
    dirty: false,
    date: '2026-11-30T07:10:00.000Z',
    focus: String.raw`\[sig-apps\] Daemon set`,
    nodes: 3,
    seed: 42,
    durations: { binarySeconds: 0.1, binaryBuilt: false, systemUpSeconds: 9.5, suiteSeconds: 331.2 },
    passed: specs.filter((s) => s.status === 'passed').length,
    failed: specs.filter((s) => s.status !== 'passed').length,
    specs,
    setupFailures: [],
    ...overrides,
  };
}

const simple = (status: SpecResult['status'], seconds: number): SpecResult => ({ name: ds('should run and stop simple daemon [Conformance]'), status, seconds });
const retry = (status: SpecResult['status'], seconds: number): SpecResult => ({
  name: ds('should retry creating failed daemon pods [Conformance]'),
  status,
  seconds,
  ...(status === 'failed' ? { failure: retryFailure } : {}),
});

describe('runFailed', () => {
  it.each([
    ['all passed', run('daemonless', [simple('passed', 1)]), false],
    ['a spec failed', run('daemonless', [simple('passed', 1), retry('failed', 300)]), true],
    ['nothing ran (a focus that matches no spec)', run('daemonless', []), true],
    ['suite setup failed', run('daemonless', [simple('passed', 1)], { setupFailures: [{ name: '[SynchronizedBeforeSuite]', status: 'failed', seconds: 1 }] }), true],
  ])('%s → %s', (_, r, failed) => expect(runFailed(r)).toBe(failed));
});

describe('rendering', () => {
  const daemonless = run('daemonless', [simple('passed', 12.5), retry('failed', 300.4)]);
  const upstream = run('upstream', [simple('passed', 3.1), retry('passed', 4.2)], { durations: { binarySeconds: 0, binaryBuilt: false, systemUpSeconds: 9, suiteSeconds: 67 } });

  it('summaryTable: one row per spec and the tally', () => {
    expect(summaryTable(daemonless).split('\n')).toEqual([
      'result  duration  spec (daemonless)',
      'FAIL    300.4 s  should retry creating failed daemon pods [Conformance]',
      'ok       12.5 s  should run and stop simple daemon [Conformance]',
      'daemonless: 1 of 2 DaemonSet specs passed (1 failing) in 331.2 s',
    ]);
  });

  it('renderMarkdown: systems side by side (daemonless first), each failure with its message', () => {
    const md = renderMarkdown({ runs: { upstream, daemonless } });
    expect(md).toContain('| daemonless (local server) | 1 / 2 | 1 | 331.2 s | 0.1 s (cached) | 9.5 s | 3 | v1.37.2 | 0123456789 | 2026-11-30T07:10:00.000Z |');
    expect(md).toContain('| upstream controller | 2 / 2 | 0 | 67.0 s |');
    expect(md).toContain('| spec | daemonless (local server) | upstream controller |');
    expect(md).toContain('| should retry creating failed daemon pods [Conformance] | **FAILED** 300.4 s | passed 4.2 s |');
    expect(md).toContain('## Failures: daemonless (local server)\n\n### should retry creating failed daemon pods [Conformance]\n\n```\n[FAILED] error waiting');
    expect(md).not.toContain('Full Stack Trace');
    expect(md).not.toContain('## Failures: upstream');
    // A run in the Lambda runtime is kept beside the local server's, under its own label.
    const both = renderMarkdown({ runs: { upstream, daemonless, 'daemonless-lambda': daemonless } });
    expect(both).toContain('| spec | daemonless (local server) | daemonless (Lambda runtime) | upstream controller |');
  });

  it('shortName drops the DaemonSet container and its Serial label only', () => {
    expect(shortName(ds('should run and stop simple daemon [Conformance]'))).toBe('should run and stop simple daemon [Conformance]');
    expect(shortName('[sig-network] y [Serial]')).toBe('[sig-network] y [Serial]');
  });

  it('failureDetails: each failure with its last step and message', () => {
    const failed = run('daemonless', [simple('passed', 1), { ...retry('failed', 300.4), lastStep: 'Wait for the failed daemon pod to be completely deleted. (daemon_set.go:330)' }]);
    expect(failureDetails(failed).split('\n')).toEqual([
      'FAILED: should retry creating failed daemon pods [Conformance]',
      '  last step: Wait for the failed daemon pod to be completely deleted. (daemon_set.go:330)',
      '    [FAILED] error waiting for the failed daemon pod to be completely deleted: context deadline exceeded',
      '    In [It] at: k8s.io/kubernetes/test/e2e/apps/daemon_set.go:333 @ 11/30/26 07:05:00.1',
    ]);
  });
});
