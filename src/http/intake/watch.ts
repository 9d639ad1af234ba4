/**
 * Kubernetes watch events (`{type, object}`), as `kubectl get -w -o json` or a `?watch=1` stream emit them: one JSON
 * object, newline-delimited many, or pretty-printed ones one after the other. BOOKMARK and ERROR events carry no change
 * and are ignored.
 */
import { addMapped, emptyIntake, hintFromObject, type Intake, type Operation } from '../hints-from-object.ts';
import { parseAt, parseJson, type PathSegment } from '../invalid-input.ts';
import { KubeObjectSchema, WatchEventSchema } from '../schemas.ts';

const operations: Record<string, Operation | undefined> = { ADDED: 'added', MODIFIED: 'update', DELETED: 'delete' };

export function intakeWatch(body: string): Intake {
  const intake = emptyIntake();
  for (const { value, at } of watchDocuments(body)) {
    const event = parseAt(WatchEventSchema, value, at, 'watch event');
    const operation = operations[event.type];
    if (!operation) {
      intake.ignored.push(`watch ${event.type} event carries no change`);
      continue;
    }
    const object = parseAt(KubeObjectSchema, event.object, [...at, 'object'], 'watch event');
    addMapped(intake, hintFromObject(object, operation));
  }
  return intake;
}

/**
 * One JSON document (possibly pretty-printed over several lines), NDJSON, or pretty-printed documents one after the
 * other (what `kubectl get -w -o json --output-watch-events` prints). Problems on a line of NDJSON are reported at
 * `line.<n>` (1-based, as an editor counts), in a document of a sequence at `document.<n>`. Documents are read one at
 * a time and the caller validates each before the next is parsed: a bad one stops the work, and a body of a million
 * lines is never a million parsed values at once.
 */
function* watchDocuments(body: string): Generator<{ value: unknown; at: PathSegment[] }> {
  const lines = nonEmptyLines(body);
  const first = lines.next();
  if (first.done) {
    yield { value: parseJson(body, 'watch event'), at: [] };
    return;
  }
  if (body.slice(first.value.end).trim() === '') {
    yield { value: parseJson(first.value.text, 'watch event'), at: [] };
    return;
  }
  let whole: { value: unknown } | undefined;
  try {
    whole = { value: JSON.parse(body) as unknown };
  } catch {
    // NDJSON (or not JSON at all: the first bad line says so).
  }
  if (whole) {
    yield { value: whole.value, at: [] };
    return;
  }
  if (!isJson(first.value.text)) {
    // Not NDJSON either: documents spanning lines, one after the other.
    let n = 1;
    for (const text of jsonDocuments(body)) {
      const at = ['document', n++];
      yield { value: parseJson(text, 'watch event', at), at };
    }
    return;
  }
  for (let line: IteratorResult<Line> = first; !line.done; line = lines.next()) {
    const at = ['line', line.value.line];
    yield { value: parseJson(line.value.text, 'watch event', at), at };
  }
}

interface Line {
  text: string;
  /** 1-based. */
  line: number;
  /** Index just past the line's end. */
  end: number;
}

/** The trimmed, non-empty lines of `body`. */
function* nonEmptyLines(body: string): Generator<Line> {
  let line = 1;
  for (let start = 0; start <= body.length; line++) {
    const feed = body.indexOf('\n', start);
    const end = feed === -1 ? body.length : feed;
    const text = body.slice(start, end).trim();
    if (text !== '') yield { text, line, end: end + 1 };
    start = end + 1;
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * The top-level values of `body`, one after the other, as text: each object or array ends where its brackets close
 * (outside strings). Anything else, or an unclosed value, is the rest of the body, for the parser to name.
 */
export function* jsonDocuments(body: string): Generator<string> {
  let i = 0;
  while (i < body.length) {
    while (i < body.length && /\s/.test(body[i]!)) i++;
    if (i >= body.length) return;
    const start = i;
    if (body[i] !== '{' && body[i] !== '[') {
      yield body.slice(start).trim();
      return;
    }
    let depth = 0;
    let inString = false;
    for (; i < body.length; i++) {
      const c = body[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) break;
      }
    }
    if (depth !== 0 || i >= body.length) {
      yield body.slice(start).trim();
      return;
    }
    i++;
    yield body.slice(start, i);
  }
}
