/**
 * Label requirements and `metav1.LabelSelector` evaluation, shared by the DaemonSet selector (claiming pods) and node
 * affinity (matching node labels). Ports the matching rules of apimachinery `labels.Requirement.Matches` and
 * `metav1.LabelSelectorAsSelector`; an invalid requirement never matches, so a predicate never throws.
 */
import type { V1LabelSelector } from '@kubernetes/client-node';
// A label key's prefix is a DNS-1123 subdomain, as a node name is.
import { nodeNameError } from './refs.ts';

export type Labels = Readonly<Record<string, string>> | undefined;

/** One requirement: a label selector's matchExpressions entry or a node selector's matchExpressions entry. */
export interface LabelRequirement {
  key: string;
  operator: string;
  values?: readonly string[] | undefined;
}

/** Go's `strconv.ParseInt(s, 10, 64)`: optional sign, decimal digits, within int64. Undefined when it does not parse. */
export function parseInt64(value: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(value)) return undefined;
  const n = BigInt(value);
  if (n > 9223372036854775807n || n < -9223372036854775808n) return undefined;
  return n;
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** Why `key` is not a label key (a qualified name: an optional DNS-subdomain prefix and `/`, a name of at most 63), or null. */
export function labelKeyError(key: string): string | null {
  const slash = key.lastIndexOf('/');
  const [prefix, name] = slash === -1 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
  if (prefix !== undefined && nodeNameError(prefix) !== null) return `key ${JSON.stringify(key)} has an invalid prefix`;
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) return `key ${JSON.stringify(key)} is not a label key`;
  return null;
}

/** Why `value` is not a label value (empty, or at most 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric), or null. */
export function labelValueError(value: string): string | null {
  return value === '' || (value.length <= 63 && LABEL_NAME.test(value)) ? null : `value ${JSON.stringify(value)} is not a label value`;
}

/**
 * Null when the requirement is well-formed, otherwise why not (apimachinery `labels.NewRequirement` rules: a label key,
 * In/NotIn need label values, Exists/DoesNotExist take none, Gt/Lt take exactly one integer).
 * `numeric` allows Gt/Lt (node selectors only). The API server does not check a node affinity's values, so a template
 * with one that is no label value is accepted; its term then matches no node, as upstream's lazy parse makes it.
 */
export function requirementError(req: LabelRequirement, numeric: boolean): string | null {
  const values = req.values ?? [];
  if (!req.key) return 'key must not be empty';
  const keyProblem = labelKeyError(req.key);
  if (keyProblem !== null) return keyProblem;
  const valueProblem = req.operator === 'In' || req.operator === 'NotIn' ? (values.map(labelValueError).find((e) => e !== null) ?? null) : null;
  if (valueProblem !== null) return valueProblem;
  switch (req.operator) {
    case 'In':
    case 'NotIn':
      return values.length === 0 ? `operator ${req.operator} needs at least one value` : null;
    case 'Exists':
    case 'DoesNotExist':
      return values.length !== 0 ? `operator ${req.operator} takes no values` : null;
    case 'Gt':
    case 'Lt':
      if (!numeric) return `operator ${req.operator} is not supported here`;
      if (values.length !== 1) return `operator ${req.operator} needs exactly one value`;
      return parseInt64(values[0] ?? '') === undefined ? `value ${JSON.stringify(values[0])} is not an integer` : null;
    default:
      return `operator ${JSON.stringify(req.operator)} is not supported`;
  }
}

/** Whether `labels` satisfy a requirement already known to be well-formed (apimachinery `Requirement.Matches`). */
export function requirementMatches(req: LabelRequirement, labels: Labels): boolean {
  const has = labels !== undefined && Object.hasOwn(labels, req.key);
  const value = has ? labels[req.key] : undefined;
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      if (value === undefined) return false;
      const actual = parseInt64(value);
      const bound = parseInt64(values[0] ?? '');
      if (actual === undefined || bound === undefined) return false;
      return req.operator === 'Gt' ? actual > bound : actual < bound;
    }
    default:
      return false;
  }
}

/** `key In [a, b]`, `key Exists`: how requirements appear in reasons. */
export function describeRequirement(req: LabelRequirement): string {
  const values = req.values ?? [];
  if (req.operator === 'Exists' || req.operator === 'DoesNotExist') return `${req.key} ${req.operator}`;
  if (req.operator === 'Gt' || req.operator === 'Lt') return `${req.key} ${req.operator} ${values.join(', ')}`;
  return `${req.key} ${req.operator} [${values.join(', ')}]`;
}

/** A selector with neither matchLabels nor matchExpressions: upstream's `selector.Empty()`, refused with SelectingAll. */
export function isEmptySelector(selector: V1LabelSelector | undefined): boolean {
  if (selector === undefined) return false;
  return Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0;
}

/** Null when the selector is usable, otherwise why not (`metav1.LabelSelectorAsSelector` errors). */
export function selectorError(selector: V1LabelSelector | undefined): string | null {
  if (selector === undefined) return 'selector is missing';
  for (const req of selector.matchExpressions ?? []) {
    const err = requirementError(req, false);
    if (err !== null) return `${describeRequirement(req)}: ${err}`;
  }
  return null;
}

/**
 * Whether a DaemonSet selector selects an object with these labels. Stricter than `metav1.LabelSelectorAsSelector` on
 * purpose: a missing, empty or invalid selector selects nothing here (the plan refuses the empty one with SelectingAll,
 * and the API server rejects invalid ones), so no code path can claim every pod of a namespace by accident.
 */
export function selectorMatches(selector: V1LabelSelector | undefined, labels: Labels): boolean {
  if (selector === undefined || isEmptySelector(selector) || selectorError(selector) !== null) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels === undefined || !Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  return (selector.matchExpressions ?? []).every((req) => requirementMatches(req, labels));
}

/** `app=fluentd,tier In [a]`: a selector as a readable string. */
export function describeSelector(selector: V1LabelSelector | undefined): string {
  if (selector === undefined) return '<none>';
  const parts = [
    ...Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(selector.matchExpressions ?? []).map(describeRequirement),
  ];
  return parts.length === 0 ? '{}' : parts.join(',');
}

/** The selector's requirements, matchLabels as `key In [value]`; undefined when it selects nothing here (as `selectorMatches`). */
function requirementsOf(selector: V1LabelSelector | undefined): LabelRequirement[] | undefined {
  if (selector === undefined || isEmptySelector(selector) || selectorError(selector) !== null) return undefined;
  return [
    ...Object.entries(selector.matchLabels ?? {}).map(([key, value]) => ({ key, operator: 'In', values: [value] })),
    ...(selector.matchExpressions ?? []),
  ];
}

/** One requirement in the `labelSelector` query syntax (`k=v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`). */
function requirementQuery(req: LabelRequirement): string {
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return values.length === 1 ? `${req.key}=${values[0]}` : `${req.key} in (${values.join(',')})`;
    case 'NotIn':
      return values.length === 1 ? `${req.key}!=${values[0]}` : `${req.key} notin (${values.join(',')})`;
    case 'Exists':
      return req.key;
    default:
      return `!${req.key}`; // DoesNotExist; anything else was refused by selectorError
  }
}

/** The requirement an object fails exactly when it fails `req` (a missing key fails `In` and passes `NotIn`). */
function negation(req: LabelRequirement): LabelRequirement {
  const opposite: Record<string, string> = { In: 'NotIn', NotIn: 'In', Exists: 'DoesNotExist', DoesNotExist: 'Exists' };
  return { ...req, operator: opposite[req.operator] ?? req.operator };
}

/**
 * The selector in the API's `labelSelector` query syntax (`app=fluentd,tier in (a,b),!legacy`), for listing only the
 * pods a DaemonSet could claim. Undefined when it selects nothing here (missing, empty or invalid, as
 * `selectorMatches`): the caller must not list with it.
 */
export function selectorQuery(selector: V1LabelSelector | undefined): string | undefined {
  return requirementsOf(selector)?.map(requirementQuery).join(',');
}

/**
 * Few lists for several selectors: selectors that are a single `key In (values)` requirement (`matchLabels` with one
 * label, the usual DaemonSet selector) and share the key are asked for together, `key in (every value)`, which lists
 * exactly the union of what each selects; any other selector gets its own query (`selectorQuery`). Each entry names
 * the selectors (by index) whose pods its list holds; the caller picks each one's pods with `selectorMatches`. A
 * selector that selects nothing here gets no list. An empty value is never grouped (the query syntax would need it
 * between commas).
 */
export function groupedSelectorQueries(selectors: readonly (V1LabelSelector | undefined)[]): { query: string; members: number[] }[] {
  const byKey = new Map<string, { values: Set<string>; members: number[] }>();
  const alone: { query: string; members: number[] }[] = [];
  selectors.forEach((selector, i) => {
    const reqs = requirementsOf(selector);
    if (reqs === undefined) return;
    const [only] = reqs;
    if (reqs.length === 1 && only?.operator === 'In' && (only.values ?? []).every((v) => v !== '')) {
      const group = byKey.get(only.key) ?? { values: new Set<string>(), members: [] };
      for (const v of only.values ?? []) group.values.add(v);
      group.members.push(i);
      byKey.set(only.key, group);
    } else {
      alone.push({ query: reqs.map(requirementQuery).join(','), members: [i] });
    }
  });
  const grouped = [...byKey].map(([key, { values, members }]) => ({
    query: requirementQuery({ key, operator: 'In', values: [...values].sort() }),
    members,
  }));
  return [...grouped, ...alone].sort((a, b) => (a.members[0] ?? 0) - (b.members[0] ?? 0));
}

/**
 * The complement of a selector as queries, one per requirement: an object fails the selector exactly when it matches
 * one of them (a `labelSelector` query is a conjunction, so a disjunction takes one list each). For listing what a
 * DaemonSet may have to release (owned pods relabelled out of its selector) without listing the pods it selects.
 * Undefined when the selector selects nothing here (as `selectorQuery`).
 */
export function complementQueries(selector: V1LabelSelector | undefined): string[] | undefined {
  return requirementsOf(selector)?.map((req) => requirementQuery(negation(req)));
}
