/**
 * AdmissionReview requests from a ValidatingWebhookConfiguration. The review itself must be valid (a 400 otherwise);
 * the object inside is read leniently by the route, because whatever it contains the API server must get
 * `allowed: true`.
 */
import type { V1DaemonSet, V1Node } from '@kubernetes/client-node';
import { daemonSetFingerprint, nodeFingerprint } from '../../core/fields.ts';
import { daemonSetKinds } from '../../core/model.ts';
import { addMapped, emptyIntake, hintFromObject, type Intake, type Operation } from '../hints-from-object.ts';
import { parseAt } from '../invalid-input.ts';
import { nodeUnreadChange, nodeUpdateChangesNothingRead } from './node-changes.ts';
import { KubeObjectSchema, type AdmissionReview, type KubeObject } from '../schemas.ts';
import type { Hint } from '../../hints.ts';

const operations: Record<string, Operation | undefined> = { CREATE: 'create', UPDATE: 'update', DELETE: 'delete' };

/** The answer the API server expects: same apiVersion, the request's uid, allowed. Never anything else. */
export function allowed(review: AdmissionReview) {
  return {
    apiVersion: review.apiVersion,
    kind: 'AdmissionReview' as const,
    response: { uid: review.request.uid, allowed: true as const },
  };
}

/**
 * Hints from the request's object. Throws `InvalidInputError` when the object is unreadable (the route logs it).
 * A node's or DaemonSet's hint says what the object was before the change (Hint `pending`): the API server stores the
 * change only after this request is answered, so the pass that handles it may come first; it waits until
 * `now + storedWithinMs`.
 */
export function intakeAdmission(review: AdmissionReview, wait: { now: number; storedWithinMs: number }): Intake {
  const intake = emptyIntake();
  const { request } = review;
  if (request.dryRun) {
    // sideEffects: NoneOnDryRun. Nothing will be persisted, so there is nothing to reconcile.
    intake.ignored.push('dry run');
    return intake;
  }
  const operation = operations[request.operation];
  if (!operation) {
    intake.ignored.push(`admission ${request.operation} changes no object`);
    return intake;
  }
  // DELETE carries only oldObject; CREATE only object; UPDATE both (the new one matters).
  const [raw, field] =
    operation === 'delete' ? [request.oldObject, 'oldObject'] : [request.object ?? request.oldObject, 'object'];
  if (raw === null || raw === undefined) {
    intake.ignored.push(`admission ${request.operation} without ${field}`);
    return intake;
  }
  const object = parseAt(KubeObjectSchema, raw, ['request', field], 'object in AdmissionReview');
  if (operation === 'update' && object.apiVersion === 'v1' && object.kind === 'Node' && nodeUpdateChangesNothingRead(request.oldObject, raw)) {
    intake.ignored.push(nodeUnreadChange);
    return intake;
  }
  // An object being created may not carry its namespace yet; the request names it.
  if (!object.metadata.namespace && request.namespace) object.metadata.namespace = request.namespace;
  const mapped = hintFromObject(object, operation);
  // How a pass will see the change stored (Hint `pending`): a Node maps to its node's hint, a DaemonSet to its own.
  const fingerprint = fingerprintOf(object);
  if (fingerprint !== undefined && 'hint' in mapped && (mapped.hint.kind === 'node' || mapped.hint.kind === 'daemonSet')) {
    const before = operation === 'create' ? null : fingerprint(request.oldObject);
    // An update whose object reads the same before and after (in what the fingerprint covers) cannot be seen stored:
    // it waits for nothing (a node's) or for the settle delay (a DaemonSet's metadata).
    if (operation !== 'update' || before !== fingerprint(raw)) mapped.hint.pending = { before, until: wait.now + wait.storedWithinMs };
  }
  addMapped(intake, mapped);
  const former = operation === 'update' ? formerOwnerHint(request.oldObject, object) : undefined;
  if (former !== undefined) intake.hints.push(former);
  return intake;
}

/**
 * Upstream's updatePod also syncs a pod's old controller when its controller reference changed: that DaemonSet lost a
 * pod (and may owe its node a new one). Only an AdmissionReview carries the pod as it was; the other sources name the
 * new owner alone, and the old one waits for its next pass (docs/design.md). Its hint is the one a deletion of the pod
 * would give (no pods named: nothing of the old DaemonSet's needs a release check).
 */
function formerOwnerHint(oldRaw: unknown, object: KubeObject): Hint | undefined {
  if (object.apiVersion !== 'v1' || object.kind !== 'Pod') return undefined;
  const parsed = KubeObjectSchema.safeParse(oldRaw);
  if (!parsed.success) return undefined;
  const old = parsed.data;
  const before = old.controller;
  const after = object.controller;
  if (before === undefined || (after !== undefined && before.apiVersion === after.apiVersion && before.kind === after.kind && before.name === after.name)) return undefined;
  if (!old.metadata.namespace) old.metadata.namespace = object.metadata.namespace;
  const mapped = hintFromObject(old, 'delete');
  return 'hint' in mapped ? mapped.hint : undefined;
}

/** The fingerprint a pass compares for objects of this kind (core/fields.ts); none for other kinds (pods). */
function fingerprintOf(o: { apiVersion: string; kind: string }): ((raw: unknown) => string | null) | undefined {
  if (o.apiVersion === 'v1' && o.kind === 'Node') return (raw) => nodeFingerprint(asObject<V1Node>(raw));
  const isDaemonSet = (o.apiVersion === 'apps/v1' && o.kind === 'DaemonSet') || (o.apiVersion === daemonSetKinds.ServerlessDaemonSet.apiVersion && o.kind === 'ServerlessDaemonSet');
  return isDaemonSet ? (raw) => daemonSetFingerprint(asObject<V1DaemonSet>(raw)) : undefined;
}

/** An object from a review, leniently: a fingerprint reads what it finds (core/fields.ts). */
function asObject<T>(raw: unknown): T | null {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as T) : null;
}
