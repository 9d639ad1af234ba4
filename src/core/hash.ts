/**
 * Our revision hash. Upstream's `ComputeHash` (FNV-32a over a Go deep-print dump) cannot be reproduced outside Go, so
 * daemonless defines its own, stable across processes, platforms and Node versions:
 *
 *   revisionHash(ds) = encode(fnv1a64(utf8(canonicalJson({ collisionCount: status.collisionCount ?? 0,
 *                                                          template: spec.template }))))
 *
 * - canonicalJson: object keys sorted (by UTF-16 code units) at every depth; Date → ISO-8601 string; `undefined` and
 *   `null` object members dropped (client-node yields either for an absent field, e.g. the template's
 *   `creationTimestamp: null`), array holes → null; no whitespace.
 * - fnv1a64: FNV-1a, 64-bit, over the UTF-8 bytes.
 * - encode: base 27 over upstream's SafeEncodeString alphabet (lowercase consonants and digits without vowels, 0, 1 and
 *   3, so no words and no look-alikes), 10 digits, most significant first (≈47.5 bits): a valid label value and DNS
 *   label fragment.
 *
 * This hash only names a new revision. The hash a pass uses is the label of the ControllerRevision whose data matches
 * the template (core/history.ts), so pods the upstream controller made for a template it stored keep their hash and
 * stay current (docs/design.md, "One revision hash per pass").
 */
import type { V1DaemonSet } from '@kubernetes/client-node';

const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalize(value));
}

function canonicalize(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : canonicalize(v)));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v === undefined || v === null || typeof v === 'function') continue;
      out[key] = canonicalize(v);
    }
    return out;
  }
  return value;
}

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

export function fnv1a64(input: string): bigint {
  let hash = FNV64_OFFSET;
  for (const byte of new TextEncoder().encode(input)) {
    hash ^= BigInt(byte);
    hash = (hash * FNV64_PRIME) & MASK64;
  }
  return hash;
}

/** `length` base-27 digits of `n` over the safe alphabet, most significant first. */
export function safeEncode(n: bigint, length: number): string {
  const base = BigInt(SAFE_ALPHABET.length);
  let rest = n;
  let out = '';
  for (let i = 0; i < length; i++) {
    out = SAFE_ALPHABET[Number(rest % base)] + out;
    rest /= base;
  }
  return out;
}

/** A 10-character safe hash of a string. */
export function shortHash(input: string): string {
  return safeEncode(fnv1a64(input), 10);
}

/** The DaemonSet's current revision hash: the value of the pods' `controller-revision-hash` label. */
export function revisionHash(ds: V1DaemonSet): string {
  return shortHash(canonicalJson({ collisionCount: ds.status?.collisionCount ?? 0, template: ds.spec?.template }));
}
