/**
 * A pod's required node placement against a node: `spec.nodeSelector` AND the required node affinity, as in
 * component-helpers `nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)`. Each check returns null when the node
 * matches, otherwise a reason naming what blocks it.
 */
import type { V1Affinity, V1Node, V1NodeSelectorRequirement, V1NodeSelectorTerm } from '@kubernetes/client-node';
import { describeRequirement, requirementError, requirementMatches, type Labels } from './label-selector.ts';

/** Every nodeSelector key must be a node label with exactly that value (`labels.SelectorFromSet`). */
export function nodeSelectorMismatch(nodeSelector: Labels, node: V1Node): string | null {
  const labels = node.metadata?.labels ?? {};
  for (const [key, value] of Object.entries(nodeSelector ?? {})) {
    if (!Object.hasOwn(labels, key)) return `nodeSelector ${key}=${value} does not match: node has no label ${key}`;
    if (labels[key] !== value) return `nodeSelector ${key}=${value} does not match: node has ${key}=${labels[key]}`;
  }
  return null;
}

/**
 * A matchFields requirement. Only In/NotIn with exactly one value parse; the node's only field is `metadata.name`, so
 * another key reads as "" (upstream `fields.Set` semantics; API validation rejects such keys anyway).
 */
function fieldRequirementError(req: V1NodeSelectorRequirement): string | null {
  if (req.operator !== 'In' && req.operator !== 'NotIn') return `operator ${JSON.stringify(req.operator)} is not supported on fields`;
  if ((req.values ?? []).length !== 1) return `operator ${req.operator} on a field needs exactly one value`;
  return null;
}

function fieldRequirementMatches(req: V1NodeSelectorRequirement, node: V1Node): boolean {
  const actual = req.key === 'metadata.name' ? (node.metadata?.name ?? '') : '';
  const equal = actual === req.values?.[0];
  return req.operator === 'In' ? equal : !equal;
}

/**
 * Why one node selector term does not match, or null when it does. Expressions (on labels) and fields are ANDed; a term
 * with neither matches nothing; a term with an invalid requirement matches nothing (upstream's lazy parse errors).
 */
export function nodeSelectorTermMismatch(term: V1NodeSelectorTerm, node: V1Node): string | null {
  const expressions = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (expressions.length === 0 && fields.length === 0) return 'term is empty and matches no node';
  for (const req of expressions) {
    const err = requirementError(req, true);
    if (err !== null) return `${describeRequirement(req)} is invalid (${err})`;
  }
  for (const req of fields) {
    const err = fieldRequirementError(req);
    if (err !== null) return `${describeRequirement(req)} is invalid (${err})`;
  }
  const labels = node.metadata?.labels;
  const failedExpression = expressions.find((req) => !requirementMatches(req, labels));
  if (failedExpression) return `${describeRequirement(failedExpression)} does not match`;
  const failedField = fields.find((req) => !fieldRequirementMatches(req, node));
  if (failedField) return `${describeRequirement(failedField)} does not match`;
  return null;
}

/** Required node affinity: terms ORed; nil affinity matches every node; a present selector with no terms, none. */
export function requiredNodeAffinityMismatch(affinity: V1Affinity | undefined, node: V1Node): string | null {
  const required = affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required === undefined || required === null) return null;
  const terms = required.nodeSelectorTerms ?? [];
  if (terms.length === 0) return 'required node affinity has no terms and matches no node';
  const reasons: string[] = [];
  for (const [i, term] of terms.entries()) {
    const reason = nodeSelectorTermMismatch(term, node);
    if (reason === null) return null;
    reasons.push(`term ${i}: ${reason}`);
  }
  return `required node affinity does not match (${reasons.join('; ')})`;
}

/** nodeSelector AND required node affinity, the node-placement half of upstream `NodeShouldRunDaemonPod`. */
export function nodeAffinityMismatch(
  spec: { nodeSelector?: Labels; affinity?: V1Affinity | undefined } | undefined,
  node: V1Node,
): string | null {
  return nodeSelectorMismatch(spec?.nodeSelector, node) ?? requiredNodeAffinityMismatch(spec?.affinity, node);
}
