/**
 * `npm run package`: the deployment as CI checks it, offline and without AWS credentials (after `npm run build`).
 *
 *  1. The tools, installed once per machine under ${DAEMONLESS_CACHE:-~/.cache/daemonless}: `osls` (the open-source
 *     Serverless Framework v3 line, pinned with its whole tree by .ci/tools/osls/package-lock.json, apart from the
 *     project's own dependencies) and `cfn-lint` (PyPI, in a virtualenv).
 *  2. `osls package` → .serverless/, run with no AWS credentials reachable (so a variable that needs them fails here).
 *  3. Policy checks on the generated template (`checkTemplate`): partition-agnostic ARNs, one role per function,
 *     reserved concurrency, a failure destination for every asynchronous invocation config, an alarm on every queue
 *     of failures, no secret values.
 *  4. `cfn-lint` on the generated templates: errors fail; warnings fail unless they are framework output listed in
 *     `knownWarnings` (and explained in docs/deploy.md), matched by rule, resource and dependency, not by rule alone.
 *  5. The size of each deployed artifact (zipped and unzipped).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readZip, type ZipEntry } from '../devcluster/lambda/zip.ts';

export const cfnLintVersion = '1.58.0';

const root = join(import.meta.dirname, '..');
const toolsDir = join(root, '.ci', 'tools', 'osls');
const cacheRoot = process.env.DAEMONLESS_CACHE ?? join(homedir(), '.cache', 'daemonless');
const log = (line: string) => process.stdout.write(`package: ${line}\n`);

// ---------------------------------------------------------------------------------------------------------------
// Pure checks (unit-tested in test/deploy/package.test.ts)

/** One finding of `cfn-lint --format json`. */
export interface LintFinding {
  Level: 'Error' | 'Warning' | 'Informational' | string;
  Message: string;
  Rule: { Id: string };
  Location: { Path: (string | number)[] };
  Filename: string;
}

interface KnownWarning {
  rule: string;
  /** The resource the finding is on, and the dependency it names: both must match, and be related as `related` says. */
  resource: RegExp;
  dependency: RegExp;
  related: (resource: RegExpExecArray, dependency: RegExpExecArray) => boolean;
  why: string;
}

/**
 * Warnings the framework's own output draws, each explained in docs/deploy.md ("cfn-lint"). W3005 (a DependsOn that a
 * Ref or GetAtt already implies) is accepted only where the implying Ref/GetAtt is in the same resource.
 */
export const knownWarnings: KnownWarning[] = [
  {
    rule: 'W3005',
    resource: /^(\w+)LambdaFunction$/,
    dependency: /^(\w+)Role$/,
    related: (fn, role) => fn[1] === role[1],
    why: 'the framework adds DependsOn on a function’s own role (a resource of serverless.yml) next to its Fn::GetAtt',
  },
  {
    rule: 'W3005',
    resource: /^HttpApiRoute\w+$/,
    dependency: /^HttpApiIntegration\w+$/,
    related: () => true,
    why: 'the framework adds DependsOn on a route’s integration next to the Ref in its Target',
  },
];

export interface LintJudgement {
  errors: LintFinding[];
  known: { finding: LintFinding; why: string }[];
  unexpected: LintFinding[];
}

/** Sorts findings: errors (always fatal), known framework warnings, and everything else (fatal too). */
export function judgeLint(findings: readonly LintFinding[], known: readonly KnownWarning[] = knownWarnings): LintJudgement {
  const judgement: LintJudgement = { errors: [], known: [], unexpected: [] };
  for (const finding of findings) {
    if (finding.Level === 'Error') {
      judgement.errors.push(finding);
      continue;
    }
    const match = known.find((k) => isKnown(finding, k));
    if (match) judgement.known.push({ finding, why: match.why });
    else judgement.unexpected.push(finding);
  }
  return judgement;
}

function isKnown(finding: LintFinding, known: KnownWarning): boolean {
  if (finding.Rule.Id !== known.rule) return false;
  const [section, resource] = finding.Location.Path;
  if (section !== 'Resources' || typeof resource !== 'string') return false;
  // "'WatchRole' dependency already enforced by a 'GetAtt' at 'Resources/WatchLambdaFunction/Properties/Role'"
  const message = /^'(\w+)' dependency already enforced by a '(?:Ref|GetAtt)' at 'Resources\/(\w+)\//.exec(finding.Message);
  if (!message || message[2] !== resource) return false;
  const r = known.resource.exec(resource);
  const d = known.dependency.exec(message[1]!);
  return r !== null && d !== null && known.related(r, d);
}

type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> };

/**
 * What the deployment promises, checked on the generated template. Returns the problems (empty when it keeps them).
 * `functionNames`: the functions/*.ts entry points, each of which must be deployed, and nothing else.
 */
export function checkTemplate(template: Template, text: string, functionNames: readonly string[]): string[] {
  const problems: string[] = [];
  if (text.includes('arn:aws:')) problems.push('an ARN with a literal partition (arn:aws:): use ${AWS::Partition}');
  const resources = Object.entries(template.Resources);
  const functions = resources.filter(([, r]) => r.Type === 'AWS::Lambda::Function');
  const roles = new Set(resources.filter(([, r]) => r.Type === 'AWS::IAM::Role').map(([id]) => id));
  const rolesUsed = new Map<string, string>();
  const deployed: string[] = [];
  for (const [id, fn] of functions) {
    const p = fn.Properties ?? {};
    deployed.push(String(p['FunctionName']).split('-').at(-1)!);
    if (typeof p['ReservedConcurrentExecutions'] !== 'number') problems.push(`${id}: no reserved concurrency`);
    const role = p['Role']?.['Fn::GetAtt']?.[0];
    if (typeof role !== 'string' || !roles.has(role)) problems.push(`${id}: its role is not a role of this stack`);
    else if (rolesUsed.has(role)) problems.push(`${id}: shares ${role} with ${rolesUsed.get(role)}`);
    else rolesUsed.set(role, id);
    for (const name of Object.keys(p['Environment']?.['Variables'] ?? {})) {
      if (['BEARER_TOKEN', 'ADMISSION_PATH_SECRET', 'KUBE_TOKEN'].includes(name)) {
        problems.push(`${id}: a secret value in its environment (${name}); name its SSM parameter (${name}_PARAMETER)`);
      }
    }
  }
  const missing = functionNames.filter((n) => !deployed.includes(n));
  const extra = deployed.filter((n) => !functionNames.includes(n));
  if (missing.length > 0) problems.push(`functions/*.ts not deployed: ${missing.join(', ')}`);
  if (extra.length > 0) problems.push(`deployed functions without functions/<name>.ts: ${extra.join(', ')}`);
  for (const [id, r] of resources) {
    if (r.Type === 'AWS::Lambda::EventInvokeConfig' && !r.Properties?.['DestinationConfig']?.['OnFailure']?.['Destination']) {
      problems.push(`${id}: asynchronous invocations without an on-failure destination`);
    }
    if (r.Type === 'AWS::IAM::Role') {
      for (const statement of statements(r.Properties ?? {})) {
        const actions = [statement['Action']].flat();
        if (actions.some((a) => a === '*' || a.endsWith(':*'))) problems.push(`${id}: a wildcard action (${actions.join(', ')})`);
        const networkInterfaces = actions.every((a) => a.startsWith('ec2:'));
        if (statement['Resource'] === '*' && !networkInterfaces) problems.push(`${id}: Resource '*' for ${actions.join(', ')}`);
      }
    }
  }
  problems.push(...unwatchedFailureQueues(template));
  return problems;
}

/**
 * The queues that collect what failed for good (a queue's dead-letter target, an asynchronous invocation's on-failure
 * destination) without a CloudWatch alarm on their depth: what lands there would wait unseen for its retention period.
 */
function unwatchedFailureQueues(template: Template): string[] {
  const resources = Object.entries(template.Resources);
  const arnOf = (value: any): string | undefined => (value?.['Fn::GetAtt']?.[1] === 'Arn' ? value['Fn::GetAtt'][0] : undefined);
  const failureQueues = new Set<string>();
  for (const [, r] of resources) {
    const deadLetter = r.Type === 'AWS::SQS::Queue' ? arnOf(r.Properties?.['RedrivePolicy']?.['deadLetterTargetArn']) : undefined;
    const onFailure = r.Type === 'AWS::Lambda::EventInvokeConfig' ? arnOf(r.Properties?.['DestinationConfig']?.['OnFailure']?.['Destination']) : undefined;
    for (const id of [deadLetter, onFailure]) if (id !== undefined) failureQueues.add(id);
  }
  const watched = new Set(
    resources
      .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties?.['MetricName'] === 'ApproximateNumberOfMessagesVisible')
      .flatMap(([, r]) => (r.Properties?.['Dimensions'] ?? []) as { Name: string; Value: any }[])
      .filter((d) => d.Name === 'QueueName' && d.Value?.['Fn::GetAtt']?.[1] === 'QueueName')
      .map((d) => String(d.Value['Fn::GetAtt'][0])),
  );
  return [...failureQueues].filter((id) => !watched.has(id)).map((id) => `${id}: a queue of failures without an alarm on its depth`);
}

/** Every statement of a role's inline policies, the branches of an Fn::If included. */
function statements(properties: Record<string, any>): Record<string, any>[] {
  const out: Record<string, any>[] = [];
  const visit = (s: any): void => {
    if (s?.['Fn::If']) visit(s['Fn::If'][1]), visit(s['Fn::If'][2]);
    else if (s?.['Action']) out.push(s);
  };
  for (const policy of properties['Policies'] ?? []) for (const s of policy.PolicyDocument.Statement) visit(s);
  return out;
}

/**
 * A function whose `AWS_LAMBDA_EXEC_WRAPPER` names a file of its code (/var/task/…) must carry it, executable: the
 * bootstrap refuses to start the runtime otherwise (exit 126/127), and every invocation fails. Returns the problems.
 */
export function checkExecWrappers(functions: readonly { name: string; environment: Record<string, unknown>; entries: readonly ZipEntry[] }[]): string[] {
  const problems: string[] = [];
  for (const fn of functions) {
    const wrapper = fn.environment['AWS_LAMBDA_EXEC_WRAPPER'];
    if (typeof wrapper !== 'string' || !wrapper.startsWith('/var/task/')) continue;
    const entry = fn.entries.find((e) => e.name === wrapper.slice('/var/task/'.length));
    if (!entry) problems.push(`${fn.name}: AWS_LAMBDA_EXEC_WRAPPER ${wrapper} is not in its artifact`);
    else if (((entry.mode ?? 0) & 0o111) === 0) problems.push(`${fn.name}: AWS_LAMBDA_EXEC_WRAPPER ${wrapper} is not executable in its artifact`);
  }
  return problems;
}

/** Uncompressed size of a zip's entries, from its central directory. */
export function unzippedSize(zip: Buffer): number {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error('not a zip file');
  const entries = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  let total = 0;
  for (let i = 0; i < entries; i++) {
    total += zip.readUInt32LE(at + 24);
    at += 46 + zip.readUInt16LE(at + 28) + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------------------
// The run

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`package: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}

function main(): void {
  const functionNames = readdirSync(join(root, 'functions'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => basename(f, '.ts'))
    .sort();
  for (const name of functionNames) {
    if (!existsSync(join(root, 'dist', `${name}.zip`))) throw new Error(`dist/${name}.zip is missing: run npm run build first`);
  }

  const osls = ensureOsls();
  const cfnLint = ensureCfnLint();

  rmSync(join(root, '.serverless'), { recursive: true, force: true });
  timed('osls package', () =>
    run(process.execPath, [osls, 'package', '--stage', 'dev'], {
      // Nothing AWS can be reached: a variable that needs credentials fails here, as it would in a clean CI.
      env: withoutAws(process.env),
    }),
  );

  const templates = ['cloudformation-template-create-stack.json', 'cloudformation-template-update-stack.json'].map((f) =>
    join(root, '.serverless', f),
  );
  const text = readFileSync(templates[1]!, 'utf8');
  const problems = checkTemplate(JSON.parse(text) as Template, text, functionNames);
  for (const problem of problems) log(`policy: ${problem}`);
  if (problems.length > 0) throw new Error(`${problems.length} policy problem(s) in the generated template`);
  log('policy: partition-agnostic ARNs, one role and reserved concurrency per function, failure destinations, an alarm on every queue of failures, no secret values');

  const lint = timed('cfn-lint', () => run(cfnLint, ['--format', 'json', ...templates], { okStatus: [0, 2, 4, 6, 8, 10, 12, 14] }));
  const judgement = judgeLint(JSON.parse(lint.stdout || '[]') as LintFinding[]);
  const where = (f: LintFinding) => `${f.Rule.Id} ${f.Location.Path.slice(0, 2).join('/')}: ${f.Message}`;
  for (const f of judgement.errors) log(`cfn-lint error ${where(f)}`);
  for (const f of judgement.unexpected) log(`cfn-lint unexpected ${f.Level.toLowerCase()} ${where(f)}`);
  const knownByRule = new Map<string, number>();
  for (const { finding } of judgement.known) knownByRule.set(finding.Rule.Id, (knownByRule.get(finding.Rule.Id) ?? 0) + 1);
  log(
    `cfn-lint ${cfnLintVersion}: ${judgement.errors.length} errors, ${judgement.unexpected.length} unexpected warnings, ` +
      `${judgement.known.length} known framework warnings (${[...knownByRule].map(([id, n]) => `${id} ×${n}`).join(', ') || 'none'}; docs/deploy.md)`,
  );
  if (judgement.errors.length + judgement.unexpected.length > 0) throw new Error('cfn-lint found problems');

  const state = JSON.parse(readFileSync(join(root, '.serverless', 'serverless-state.json'), 'utf8')) as {
    service: { functions: Record<string, { package: { artifact: string }; environment?: Record<string, unknown> }> };
  };
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`.padStart(10);
  log(`${'artifact'.padEnd(24)}${'zipped'.padStart(10)}${'unzipped'.padStart(10)}   (Lambda: 50 MB zipped, 250 MB unzipped)`);
  const artifacts = Object.entries(state.service.functions).map(([name, fn]) => {
    const zip = readFileSync(join(root, fn.package.artifact));
    log(`${fn.package.artifact.padEnd(24)}${mb(zip.length)}${mb(unzippedSize(zip))}   ${name}`);
    return { name, environment: fn.environment ?? {}, entries: readZip(zip) };
  });
  const wrappers = checkExecWrappers(artifacts);
  for (const problem of wrappers) log(`artifact: ${problem}`);
  if (wrappers.length > 0) throw new Error(`${wrappers.length} artifact problem(s)`);
  log('artifacts: every exec wrapper a function names is in its artifact, executable');
}

/** osls with its pinned tree in the cache, keyed by the lockfile; installed (npm ci, no install scripts) when absent. */
function ensureOsls(): string {
  const lock = readFileSync(join(toolsDir, 'package-lock.json'));
  const version = (JSON.parse(readFileSync(join(toolsDir, 'package.json'), 'utf8')) as { dependencies: { osls: string } }).dependencies.osls;
  const key = createHash('sha256').update(readFileSync(join(toolsDir, 'package.json'))).update(lock).digest('hex').slice(0, 12);
  const dir = join(cacheRoot, `osls-${version}-${key}`);
  const bin = join(dir, 'node_modules', 'osls', 'bin', 'serverless.js');
  if (existsSync(bin)) {
    log(`osls ${version}: ${dir}`);
    return bin;
  }
  mkdirSync(cacheRoot, { recursive: true });
  // Installed in a temporary folder and moved in when complete: an interrupted install is never taken for a cached one.
  const tmp = mkdtempSync(join(cacheRoot, '.osls.'));
  try {
    for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(toolsDir, file), join(tmp, file));
    timed(`osls ${version}: npm ci`, () => run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: tmp }));
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}

/** cfn-lint in a virtualenv in the cache; a marker file says the install completed (a venv cannot be moved). */
function ensureCfnLint(): string {
  const dir = join(cacheRoot, `cfn-lint-${cfnLintVersion}`);
  const bin = join(dir, 'bin', 'cfn-lint');
  const complete = join(dir, '.complete');
  if (existsSync(complete)) {
    log(`cfn-lint ${cfnLintVersion}: ${dir}`);
    return bin;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(cacheRoot, { recursive: true });
  timed(`cfn-lint ${cfnLintVersion}: venv + pip install`, () => {
    run('python3', ['-m', 'venv', dir]);
    run(join(dir, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `cfn-lint==${cfnLintVersion}`]);
  });
  writeFileSync(complete, `${new Date().toISOString()}\n`);
  return bin;
}

function withoutAws(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('AWS_')));
  return {
    ...clean,
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
    AWS_CONFIG_FILE: '/nonexistent/config',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; okStatus?: number[] } = {},
): { stdout: string } {
  const result = spawnSync(command, args, { cwd: options.cwd ?? root, env: options.env ?? process.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw new Error(`${basename(command)}: ${result.error.message}`);
  if (!(options.okStatus ?? [0]).includes(result.status ?? -1)) {
    throw new Error(`${basename(command)} ${args.join(' ')} exited ${result.status ?? result.signal}:\n${result.stdout}${result.stderr}`);
  }
  return { stdout: result.stdout };
}

function timed<T>(what: string, f: () => T): T {
  const started = performance.now();
  const result = f();
  log(`${what} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  return result;
}
