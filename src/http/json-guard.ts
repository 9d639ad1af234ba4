/**
 * Bounds on a JSON body, checked BEFORE `JSON.parse`: the memory a parse takes grows with the number of values it
 * creates, not with the bytes it reads. Measured (docs/deploy.md, "Bounded input"): 6 MB of `[[[…]]]` is 3 million
 * arrays and peaked at ~500 MB in a function configured with 256 MB; 6 MB of `[{},{},…]` at ~370 MB. A body limit alone
 * cannot stop that, a count of values can.
 *
 * The scan is structural, not a validator: it skips strings (honouring escapes), counts every value and key, and
 * tracks nesting by brackets. For valid JSON the counts are exact; invalid JSON is still bounded by the same counts and
 * then refused by `JSON.parse`. It also counts line feeds, because the watch route splits NDJSON into lines (a body of
 * six million empty lines costs as much as six million values).
 */
import { PayloadTooLargeError } from '../errors.ts';
import { InvalidInputError, type PathSegment } from './invalid-input.ts';

export interface JsonLimits {
  /** Deepest nesting of objects and arrays accepted (a top-level object is depth 1). */
  maxDepth: number;
  /** Most values accepted: every object, array, string (keys included), number and literal; also most line feeds. */
  maxTokens: number;
}

export interface JsonShape {
  tokens: number;
  depth: number;
  lines: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Characters that end a number or literal (`true`, `false`, `null`) or stand between tokens. */
const delimiter = new Uint8Array(128);
for (const c of ' \t\r\n,:[]{}"') delimiter[c.charCodeAt(0)] = 1;

/**
 * Throws `InvalidInputError` (400) when the text nests deeper than `maxDepth`, `PayloadTooLargeError` (413) when it has
 * more than `maxTokens` values or line feeds; stops at the first excess. Otherwise returns what it counted.
 * `what` names the input in the message ("audit EventList"); `at` prefixes the issue path (nested JSON in a field).
 */
export function checkJson(text: string, limits: JsonLimits, what: string, at: readonly PathSegment[] = []): JsonShape {
  const lines = countLineFeeds(text, limits.maxTokens);
  if (lines > limits.maxTokens) {
    throw new PayloadTooLargeError(`${what} has more than ${limits.maxTokens} lines (JSON_MAX_TOKENS)`);
  }
  const n = text.length;
  let tokens = 0;
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      tokens++;
      i = endOfString(text, i);
    } else if (c === 0x7b || c === 0x5b) {
      // { [
      tokens++;
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (depth > limits.maxDepth) {
          throw new InvalidInputError(`invalid ${what}: JSON nested deeper than ${limits.maxDepth} levels`, [
            { path: at.map(String).join('.'), message: `nesting exceeds ${limits.maxDepth} at character ${i}` },
          ]);
        }
      }
    } else if (c === 0x7d || c === 0x5d) {
      // } ]
      if (depth > 0) depth--;
    } else if (c < 128 && delimiter[c] === 1) {
      // whitespace, `,` or `:`
    } else {
      // A number, a literal, or a stray character JSON.parse will refuse: one token up to the next delimiter.
      tokens++;
      while (i + 1 < n) {
        const d = text.charCodeAt(i + 1);
        if (d < 128 && delimiter[d] === 1) break;
        i++;
      }
    }
    if (tokens > limits.maxTokens) {
      throw new PayloadTooLargeError(`${what} has more than ${limits.maxTokens} JSON values (JSON_MAX_TOKENS)`);
    }
  }
  return { tokens, depth: deepest, lines };
}

/** Index of the quote closing the string opened at `start` (or the last index when it is never closed). */
function endOfString(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote === -1) return text.length - 1;
    // Escaped when preceded by an odd number of backslashes.
    let backslashes = 0;
    for (let j = quote - 1; j > start && text.charCodeAt(j) === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

/** Line feeds in `text`, counting stops just past `stopAbove`. */
function countLineFeeds(text: string, stopAbove: number): number {
  let count = 0;
  for (let at = text.indexOf('\n'); at !== -1 && count <= stopAbove; at = text.indexOf('\n', at + 1)) count++;
  return count;
}
