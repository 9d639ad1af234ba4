/**
 * JSON exactly as Go's encoding/json writes a `map[string]interface{}`: what upstream's `getPatch` produces and
 * `daemon.Match` compares byte for byte (a ControllerRevision's `data` must equal it for the revision to count as the
 * DaemonSet's current one, in the controller and in the conformance suite's history checks).
 *
 * - object keys sorted by their UTF-8 bytes at every level (Go sorts map keys); `undefined` members left out, `null`
 *   members kept (a template's `metadata.creationTimestamp: null` stays);
 * - strings escaped as Go does with HTML escaping on: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control
 *   characters as `\u00xx` (lower-case hex), `<` `>` `&` as `\u003c` `\u003e` `\u0026`, U+2028/U+2029 as
 *   `\u2028`/`\u2029`, and unpaired surrogates (invalid UTF-8 in Go) as `\ufffd`;
 * - numbers as JavaScript prints them, which for the float64 values Go decodes into interface{} matches strconv's
 *   shortest form in the decimal range and `1e+21` / `1e-7` outside it;
 * - no whitespace.
 */
export function goJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`goJson: ${value} has no JSON form`);
      return JSON.stringify(value);
    case 'string':
      return goString(value);
    case 'object':
      break;
    default:
      throw new TypeError(`goJson: a ${typeof value} has no JSON form`);
  }
  if (value instanceof Date) return goString(rfc3339(value));
  if (Array.isArray(value)) return `[${value.map((v) => goJson(v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  entries.sort(([a], [b]) => compareUtf8(a, b));
  return `{${entries.map(([k, v]) => `${goString(k)}:${goJson(v)}`).join(',')}}`;
}

/** metav1.Time's JSON form: RFC 3339 in UTC with whole seconds. */
function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const encoder = new TextEncoder();

function compareUtf8(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  return x.length - y.length;
}

const SHORT: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t' };

function goString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const short = SHORT[c];
    if (short !== undefined) out += short;
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += s[i]! + s[i + 1]!;
        i++;
      } else out += '\\ufffd';
    } else if (c >= 0xdc00 && c <= 0xdfff) out += '\\ufffd';
    else out += s[i]!;
  }
  return `${out}"`;
}
