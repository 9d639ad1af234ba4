/**
 * Parsing of the `k=v` / `k=v:Effect` strings the CLI takes, with kubectl's syntax (including a trailing `-` to
 * remove). Validated here, at the edge, so API calls never fail on a malformed key.
 */
import { TAINT_EFFECTS, type Taint, type TaintEffect } from './well-known.ts';

export class ArgumentError extends Error {
  override name = 'ArgumentError';
}

// Qualified name (optional DNS-subdomain prefix + "/" + name of ≤ 63 chars), as for label and taint keys.
const NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

export function isQualifiedName(key: string): boolean {
  const slash = key.lastIndexOf('/');
  if (slash === -1) return NAME.test(key);
  const prefix = key.slice(0, slash);
  return prefix.length > 0 && prefix.length <= 253 && PREFIX.test(prefix) && NAME.test(key.slice(slash + 1));
}

export function isLabelValue(value: string): boolean {
  return value.length <= 63 && VALUE.test(value);
}

function checkKey(key: string, what: string, raw: string): void {
  if (!isQualifiedName(key)) throw new ArgumentError(`invalid ${what} key "${key}" in "${raw}"`);
}

function checkValue(value: string, what: string, raw: string): void {
  if (!isLabelValue(value)) throw new ArgumentError(`invalid ${what} value "${value}" in "${raw}"`);
}

/** `k=v` → set; `k-` → remove (value null). */
export function parseLabel(raw: string): { key: string; value: string | null } {
  if (raw.endsWith('-') && !raw.includes('=')) {
    const key = raw.slice(0, -1);
    checkKey(key, 'label', raw);
    return { key, value: null };
  }
  const eq = raw.indexOf('=');
  if (eq === -1) throw new ArgumentError(`label "${raw}" must look like key=value (or key- to remove)`);
  const key = raw.slice(0, eq);
  const value = raw.slice(eq + 1);
  checkKey(key, 'label', raw);
  checkValue(value, 'label', raw);
  return { key, value };
}

/** `k=v:Effect` or `k:Effect` → a taint; with a trailing `-` (`k:Effect-`, `k-`) it names taints to remove. */
export function parseTaintSpec(raw: string): { taint: Taint; remove: false } | { key: string; effect?: TaintEffect; value?: string; remove: true } {
  const remove = raw.endsWith('-');
  const body = remove ? raw.slice(0, -1) : raw;
  const colon = body.lastIndexOf(':');
  const keyValue = colon === -1 ? body : body.slice(0, colon);
  const effectText = colon === -1 ? undefined : body.slice(colon + 1);
  if (effectText === undefined && !remove) {
    throw new ArgumentError(`taint "${raw}" must look like key=value:Effect or key:Effect (Effect: ${TAINT_EFFECTS.join(', ')})`);
  }
  if (effectText !== undefined && !(TAINT_EFFECTS as readonly string[]).includes(effectText)) {
    throw new ArgumentError(`taint "${raw}" has effect "${effectText}"; expected one of ${TAINT_EFFECTS.join(', ')}`);
  }
  const effect = effectText as TaintEffect | undefined;
  const eq = keyValue.indexOf('=');
  const key = eq === -1 ? keyValue : keyValue.slice(0, eq);
  const value = eq === -1 ? undefined : keyValue.slice(eq + 1);
  checkKey(key, 'taint', raw);
  if (value !== undefined) checkValue(value, 'taint', raw);
  if (remove) return { key, remove: true, ...(effect ? { effect } : {}), ...(value !== undefined ? { value } : {}) };
  return { taint: { key, effect: effect!, ...(value ? { value } : {}) }, remove: false };
}

/** A taint to add, rejecting the removal form. */
export function parseTaint(raw: string): Taint {
  const spec = parseTaintSpec(raw);
  if (spec.remove) throw new ArgumentError(`taint "${raw}" is a removal; expected key=value:Effect`);
  return spec.taint;
}

export function formatTaint(t: { key: string; value?: string | undefined; effect: string }): string {
  return `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;
}
