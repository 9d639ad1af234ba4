/**
 * Audit `EventList` batches from the audit webhook backend. Only completed, successful writes to the resources below
 * matter; every other event (other resources, read verbs, earlier stages, failed requests) is skipped silently and
 * counted, because an audit policy typically sends far more than daemonless needs.
 *
 * What each event yields, by `objectRef`:
 *  - nodes, nodes/status, pods, pods/status, daemonsets, controllerrevisions: `responseObject` (the stored object, level RequestResponse)
 *    for create/update/patch and, when the response is the deleted object itself, delete; otherwise the objectRef
 *    (resource, namespace, name), which names a Node or DaemonSet but not a pod's node.
 *  - pods/binding: the response is a Status, so the Binding in `requestObject` names the node.
 *  - a node patch that touches only annotations or status (`requestObject`, the patch): ignored (node-changes.ts).
 *  - deletecollection: the items of the returned list.
 *  - a create without `responseObject` whose objectRef has no name (`generateName`, below level RequestResponse):
 *    ignored, as nothing names the object; pods need the responseObject anyway (their node is in it).
 */
import { addMapped, emptyIntake, hintFromObject, type Intake, type Operation } from '../hints-from-object.ts';
import { daemonSetNameError, namespaceError, nodeNameError } from '../../core/refs.ts';
import { InvalidInputError, parseAt, type PathSegment } from '../invalid-input.ts';
import { isRecord, nodePatchChangesNothingRead, nodeUnreadChange } from './node-changes.ts';
import * as z from '../../zod.ts';
import { AuditEventListSchema, AuditEventSchema, KubeObjectSchema, type AuditEvent } from '../schemas.ts';

interface Resource {
  apiVersion: string;
  kind: string;
  subresources: ReadonlySet<string | undefined>;
}

/** Keyed by `<apiGroup>/<resource>` (the core group is empty). `daemonsets/status` is written by us: not a trigger. */
const resources: ReadonlyMap<string, Resource> = new Map([
  ['/nodes', { apiVersion: 'v1', kind: 'Node', subresources: new Set([undefined, 'status']) }],
  ['/pods', { apiVersion: 'v1', kind: 'Pod', subresources: new Set([undefined, 'status', 'binding']) }],
  ['apps/daemonsets', { apiVersion: 'apps/v1', kind: 'DaemonSet', subresources: new Set([undefined]) }],
  ['apps/controllerrevisions', { apiVersion: 'apps/v1', kind: 'ControllerRevision', subresources: new Set([undefined]) }],
  ['daemonless.dev/serverlessdaemonsets', { apiVersion: 'daemonless.dev/v1alpha1', kind: 'ServerlessDaemonSet', subresources: new Set([undefined]) }],
]);

const operations: Record<string, Operation | undefined> = {
  create: 'create',
  update: 'update',
  patch: 'update',
  delete: 'delete',
  deletecollection: 'delete',
};

const reasons = {
  revisionWithoutObject: 'ControllerRevision change without the stored object (audit level RequestResponse is needed)',
  createdWithoutName: 'create names no object (generateName: the name is only in responseObject, audit level RequestResponse)',
};

const NamedRefSchema = z.looseObject({ name: z.string().check(z.minLength(1)) });
const ListSchema = z.looseObject({ items: z.nullish(z.array(z.unknown())) });
/**
 * The list without its items: each item is validated on its own, and the first bad one ends the request. Validating
 * the whole list at once would collect an issue for every bad item, which for a list of a million empty items is
 * more memory than a function has.
 */
const EnvelopeSchema = z.extend(AuditEventListSchema, { items: z.nullish(z.array(z.unknown())) });

export function intakeAudit(body: unknown): Intake {
  const list = parseAt(EnvelopeSchema, body, [], 'audit EventList');
  const intake = emptyIntake();
  (list.items ?? []).forEach((item, index) => intakeAuditEvent(intake, item, ['items', index], 'audit EventList'));
  return intake;
}

/** One audit event (validated here), from any source: the webhook's EventList, or a CloudWatch Logs message. */
export function intakeAuditEvent(intake: Intake, item: unknown, at: PathSegment[], what: string): void {
  intakeEvent(intake, parseAt(AuditEventSchema, item, at, what), at);
}

function intakeEvent(intake: Intake, event: AuditEvent, at: PathSegment[]): void {
  const before = intake.hints.length;
  intakeEventHints(intake, event, at);
  if (intake.hints.length > before) {
    const ref = event.objectRef;
    const user = (event as { user?: { username?: string } }).user?.username ?? '?';
    (intake.sources ??= []).push(`${event.verb} ${ref?.resource}${ref?.subresource ? `/${ref.subresource}` : ''} by ${user}`);
    const at = event.stageTimestamp === undefined ? NaN : Date.parse(event.stageTimestamp);
    if (Number.isFinite(at)) intake.oldestChangeAt = Math.min(intake.oldestChangeAt ?? at, at);
  }
}

function intakeEventHints(intake: Intake, event: AuditEvent, at: PathSegment[]): void {
  const code = event.responseStatus?.code;
  const ref = event.objectRef;
  const resource = ref && resources.get(`${ref.apiGroup ?? ''}/${ref.resource ?? ''}`);
  const operation = operations[event.verb];
  if (
    event.stage !== 'ResponseComplete' ||
    code === undefined ||
    code < 200 ||
    code > 299 ||
    !ref ||
    !resource ||
    !resource.subresources.has(ref.subresource || undefined) ||
    !operation
  ) {
    intake.skipped += 1;
    return;
  }

  if (resource.kind === 'Node' && event.verb === 'patch' && nodePatchChangesNothingRead(event.requestObject)) {
    intake.ignored.push(nodeUnreadChange);
    return;
  }

  if (ref.subresource === 'binding') {
    if (event.requestObject === undefined || event.requestObject === null) {
      intake.ignored.push('pods/binding without requestObject (audit level Request or higher is needed)');
      return;
    }
    const binding = parseAt(KubeObjectSchema, event.requestObject, [...at, 'requestObject'], 'audit event');
    addMapped(intake, hintFromObject(binding, operation));
    return;
  }

  if (event.verb === 'deletecollection') {
    const response = ListSchema.safeParse(event.responseObject);
    if (!response.success || !response.data.items) {
      intake.ignored.push('deletecollection without the deleted list (audit level RequestResponse is needed)');
      return;
    }
    response.data.items.forEach((item, i) => {
      // A built-in kind's list (PodList, NodeList, DaemonSetList) leaves apiVersion and kind off its items.
      const typed = isRecord(item) ? { apiVersion: resource.apiVersion, kind: resource.kind, ...item } : item;
      const object = parseAt(KubeObjectSchema, typed, [...at, 'responseObject', 'items', i], 'audit event');
      addMapped(intake, hintFromObject(object, operation));
    });
    return;
  }

  // The stored object, when the response is one (a delete often answers with a Status instead).
  if (isObjectOfKind(event.responseObject, resource.kind)) {
    const object = parseAt(KubeObjectSchema, event.responseObject, [...at, 'responseObject'], 'audit event');
    addMapped(intake, hintFromObject(object, operation));
    return;
  }

  if (event.verb === 'create' && !ref.name) {
    // Created with `generateName`: the objectRef is filled from the request, before the name is generated.
    intake.ignored.push(reasons.createdWithoutName);
    return;
  }
  const named = parseAt(NamedRefSchema, ref, [...at, 'objectRef'], 'audit event');
  if (resource.kind === 'ControllerRevision') {
    addRevisionDeleted(intake, operation, ref.namespace, named.name);
    return;
  }
  const invalidNode = resource.kind === 'Node' ? nodeNameError(named.name) : null;
  if (invalidNode !== null) {
    throw new InvalidInputError('invalid audit event', [{ path: [...at, 'objectRef', 'name'].join('.'), message: `not a node name: ${invalidNode}` }]);
  }
  if (resource.kind === 'DaemonSet' || resource.kind === 'ServerlessDaemonSet') {
    const issues = [
      { field: 'namespace', problem: ref.namespace === undefined ? null : namespaceError(ref.namespace), what: 'a namespace' },
      { field: 'name', problem: daemonSetNameError(named.name), what: 'a DaemonSet name' },
    ].flatMap(({ field, problem, what }) => (problem === null ? [] : [{ path: [...at, 'objectRef', field].join('.'), message: `not ${what}: ${problem}` }]));
    if (issues.length > 0) throw new InvalidInputError('invalid audit event', issues);
  }
  const object = {
    apiVersion: resource.apiVersion,
    kind: resource.kind,
    metadata: { name: named.name, namespace: ref.namespace },
  };
  addMapped(intake, hintFromObject(object, operation));
}

/**
 * A ControllerRevision deleted: the API server answers with a Status, so the event does not say whose it was. Upstream
 * and daemonless both name a DaemonSet's revisions `<DaemonSet name>-<hash>`: the DaemonSet that name implies gets a
 * pass (of either kind; the reconciler reads only the kinds it manages), which makes the current revision again if that
 * was the one deleted. A StatefulSet's revision deleted costs that pass one GET that finds no DaemonSet.
 */
function addRevisionDeleted(intake: Intake, operation: Operation, namespace: string | undefined, name: string): void {
  const implied = name.replace(/-[^-]+$/, '');
  if (operation !== 'delete' || implied === name || !namespace || namespaceError(namespace) !== null || daemonSetNameError(implied) !== null) {
    intake.ignored.push(reasons.revisionWithoutObject);
    return;
  }
  intake.hints.push({ kind: 'daemonSet', namespace, name: implied, pods: [] }, { kind: 'daemonSet', namespace, name: implied, type: 'ServerlessDaemonSet', pods: [] });
}

function isObjectOfKind(value: unknown, kind: string): boolean {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === kind;
}
