/**
 * Node writes that change nothing daemonless reads. A node as the core reads it is its name, uid, labels, creation
 * and deletion times, taints and `unschedulable` (core/fields.ts `projectNode`); annotations and status are not read.
 * Controllers write node annotations often: kube-controller-manager's TTL controller patches every node's
 * `node.alpha.kubernetes.io/ttl` each time the cluster crosses a size boundary (100, 500, 1,000, 2,000 nodes), about
 * 1,600 patches while 1,000 nodes join, and CNI plugins and autoscalers keep their own annotations on nodes. Such a
 * write cannot change which nodes run which daemon pods, so it is not worth a pass. Pure.
 */
import { projectNode } from '../../core/fields.ts';

type Node = Parameters<typeof projectNode>[0];

export const nodeUnreadChange = 'node change touches only fields daemonless does not read (annotations, status)';

const unreadMetadata = new Set(['annotations', 'resourceVersion', 'managedFields']);

export const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** A JSON pointer into a part of a Node that daemonless does not read. */
function unreadPointer(path: unknown): boolean {
  if (typeof path !== 'string') return false;
  const [, top, field] = path.split('/');
  if (top === 'status') return true;
  return top === 'metadata' && field !== undefined && unreadMetadata.has(field);
}

/**
 * True when a node `patch` request (its body, as the audit event's `requestObject` carries it) touches only fields
 * daemonless does not read: a merge or strategic merge patch whose keys are `status` and, under `metadata`, only
 * annotations, resourceVersion (a precondition) and managedFields; or a JSON patch whose every operation stays in
 * those. Anything else is delivered, and so is every doubt:
 *  - a body with `apiVersion` or `kind` may be a server-side apply, where a field left out of the applied object is
 *    removed (labels too);
 *  - strategic merge directives (`$patch`, `$retainKeys`, `$setElementOrder/…`) are keys outside the list;
 *  - an empty patch, or one that is not an object or an array.
 */
export function nodePatchChangesNothingRead(patch: unknown): boolean {
  if (Array.isArray(patch)) {
    return (
      patch.length > 0 &&
      patch.every(
        (op) =>
          isRecord(op) &&
          (op['op'] === 'test' || unreadPointer(op['path'])) &&
          (op['op'] === 'move' || op['op'] === 'copy' ? unreadPointer(op['from']) : true),
      )
    );
  }
  if (!isRecord(patch) || 'apiVersion' in patch || 'kind' in patch) return false;
  const keys = Object.keys(patch);
  return (
    keys.length > 0 &&
    keys.every((key) => {
      if (key === 'status') return true;
      const metadata = patch[key];
      return key === 'metadata' && isRecord(metadata) && Object.keys(metadata).length > 0 && Object.keys(metadata).every((m) => unreadMetadata.has(m));
    })
  );
}

/**
 * True when two versions of a node (an AdmissionReview UPDATE's `oldObject` and `object`) are the same as daemonless
 * reads them. Compared as JSON: a reordered label map or taint list counts as a change (a pass too many, never one
 * too few).
 */
export function nodeUpdateChangesNothingRead(oldObject: unknown, object: unknown): boolean {
  if (!isRecord(oldObject) || !isRecord(object)) return false;
  return JSON.stringify(projectNode(oldObject as Node)) === JSON.stringify(projectNode(object as Node));
}
