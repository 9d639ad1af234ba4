/**
 * AdmissionReview requests from a ValidatingWebhookConfiguration. The review itself must be valid (a 400 otherwise);
 * the object inside is read leniently by the route, because whatever it contains the API server must get
 * `allowed: true`.
 */
import { addMapped, emptyIntake, hintFromObject, type Intake, type Operation } from '../hints-from-object.ts';
import { parseAt } from '../invalid-input.ts';
import { nodeUnreadChange, nodeUpdateChangesNothingRead } from './node-changes.ts';
import { KubeObjectSchema, type AdmissionReview } from '../schemas.ts';

const operations: Record<string, Operation | undefined> = { CREATE: 'create', UPDATE: 'update', DELETE: 'delete' };

/** The answer the API server expects: same apiVersion, the request's uid, allowed. Never anything else. */
export function allowed(review: AdmissionReview) {
  return {
    apiVersion: review.apiVersion,
    kind: 'AdmissionReview' as const,
    response: { uid: review.request.uid, allowed: true as const },
  };
}

/** Hints from the request's object. Throws `InvalidInputError` when the object is unreadable (the route logs it). */
export function intakeAdmission(review: AdmissionReview): Intake {
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
  addMapped(intake, hintFromObject(object, operation));
  return intake;
}
