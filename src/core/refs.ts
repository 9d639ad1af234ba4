/**
 * References and orderings every part of the core shares: one way to name a DaemonSet, one owner-reference scan, one
 * string order, one node-name check.
 */
import type { V1OwnerReference } from '@kubernetes/client-node';
import { daemonSetKinds, type DaemonSetKind, type ObjectRef } from './model.ts';

interface Named {
  metadata?: { name?: string; namespace?: string; uid?: string } | undefined;
}

/** An object's namespace; the API server's default for a namespaced object created without one. */
export function namespaceOf(obj: Named): string {
  return obj.metadata?.namespace || 'default';
}

/** `{ namespace, name, uid }` of any namespaced object (DaemonSet, pod, ControllerRevision). */
export function refOf(obj: Named): ObjectRef {
  return { namespace: namespaceOf(obj), name: obj.metadata?.name ?? '', uid: obj.metadata?.uid ?? '' };
}

/** The kind of a DaemonSet-like object: ServerlessDaemonSet when it says so, else upstream's DaemonSet. */
export function daemonSetKindOf(ds: { apiVersion?: string; kind?: string }): DaemonSetKind {
  return ds.kind === 'ServerlessDaemonSet' && ds.apiVersion === daemonSetKinds.ServerlessDaemonSet.apiVersion ? 'ServerlessDaemonSet' : 'DaemonSet';
}

/** A reference to a DaemonSet-like object: `refOf`, plus its kind when it is not apps/v1 DaemonSet. */
export function daemonSetRef(ds: Named & { apiVersion?: string; kind?: string }): ObjectRef {
  const kind = daemonSetKindOf(ds);
  return kind === 'DaemonSet' ? refOf(ds) : { ...refOf(ds), kind };
}

/** `namespace/name`. */
export function keyOf(obj: Named): string {
  return `${namespaceOf(obj)}/${obj.metadata?.name ?? ''}`;
}

/** The owner reference with `controller: true` (upstream `metav1.GetControllerOf`). */
export function controllerRefOf(obj: { metadata?: { ownerReferences?: V1OwnerReference[] | undefined } | undefined }): V1OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((ref) => ref.controller === true);
}

/** Controlled by the object with this UID. */
export function isControlledBy(obj: { metadata?: { ownerReferences?: V1OwnerReference[] | undefined } | undefined }, uid: string | undefined): boolean {
  return uid !== undefined && uid !== '' && controllerRefOf(obj)?.uid === uid;
}

/** Ascending by UTF-16 code units: the one string order of the core (node names, DaemonSet keys, revision names). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why `name` is not a valid namespace (a DNS-1123 label: at most 63 lower-case alphanumerics and `-`), or null. */
export function namespaceError(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 63) return 'must be at most 63 characters';
  if (!DNS_LABEL.test(name)) return 'must be a DNS-1123 label (lower-case alphanumerics and "-")';
  return null;
}

/** Why `name` is not a valid DaemonSet name (a DNS-1123 subdomain, like a node name), or null. */
export function daemonSetNameError(name: string): string | null {
  return nodeNameError(name);
}

/** Why `name` is not a valid pod name (a DNS-1123 subdomain, like a node name), or null. */
export function podNameError(name: string): string | null {
  return nodeNameError(name);
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Why `name` is not a valid Node name (a DNS-1123 subdomain: at most 253 characters of lower-case alphanumerics, `-`
 * and `.`, starting and ending alphanumeric), or null when it is. Node names go into field selectors
 * (`spec.nodeName=<name>`), where a comma or `=` would change the query.
 */
export function nodeNameError(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 253) return 'must be at most 253 characters';
  if (!DNS_SUBDOMAIN.test(name)) return 'must be a DNS-1123 subdomain (lower-case alphanumerics, "-" and ".")';
  return null;
}
