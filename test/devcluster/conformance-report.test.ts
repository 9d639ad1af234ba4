import { describe, expect, it } from 'vitest';
import {
  type ConformanceRun,
  type SpecResult,
  failureSummary,
  isProgressLine,
  parseJUnit,
  renderMarkdown,
  runFailed,
  shortName,
  summaryTable,
  unescapeXml,
} from '../../devcluster/conformance-report.ts';

const ds = (text: string) => `[sig-apps] Daemon set [Serial] ${text}`;

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

describe('unescapeXml', () => {
  it.each([
    ['&lt;a&gt; &amp; &quot;b&quot; &apos;c&apos;', `<a> & "b" 'c'`],
    ['&#34;x&#34;&#xA;&#x9;y', '"x"\n\ty'],
    ['&unknown; stays', '&unknown; stays'],
  ])('%s', (input, expected) => expect(unescapeXml(input)).toBe(expected));
});

describe('isProgressLine', () => {
  it.each([
    ['[Serial] [sig-apps] Daemon set [Serial] should run and stop simple daemon [Conformance]', true],
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
    expect(md).toContain('| daemonless | 1 / 2 | 1 | 331.2 s | 0.1 s (cached) | 9.5 s | 3 | v1.37.2 | 0123456789 | 2026-11-30T07:10:00.000Z |');
    expect(md).toContain('| upstream controller | 2 / 2 | 0 | 67.0 s |');
    expect(md).toContain('| spec | daemonless | upstream controller |');
    expect(md).toContain('| should retry creating failed daemon pods [Conformance] | **FAILED** 300.4 s | passed 4.2 s |');
    expect(md).toContain('## Failures: daemonless\n\n### should retry creating failed daemon pods [Conformance]\n\n```\n[FAILED] error waiting');
    expect(md).not.toContain('Full Stack Trace');
    expect(md).not.toContain('## Failures: upstream');
  });

  it('shortName drops the shared prefix only', () => {
    expect(shortName(ds('x'))).toBe('x');
    expect(shortName('[sig-network] y')).toBe('[sig-network] y');
  });
});
