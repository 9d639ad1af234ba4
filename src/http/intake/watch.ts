/**
 * Kubernetes watch events (`{type, object}`), as `kubectl get -w -o json` or a `?watch=1` stream emit them: one JSON
 * object, or newline-delimited many. BOOKMARK and ERROR events carry no change and are ignored.
 */
import { addMapped, emptyIntake, hintFromObject, type Intake, type Operation } from '../hints-from-object.ts';
import { parseAt, parseJson, type PathSegment } from '../invalid-input.ts';
import { KubeObjectSchema, WatchEventSchema } from '../schemas.ts';

const operations: Record<string, Operation | undefined> = { ADDED: 'create', MODIFIED: 'update', DELETED: 'delete' };

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
 * One JSON document (possibly pretty-printed over several lines), or NDJSON. Problems on a line of NDJSON are reported
 * at `line.<n>` (1-based, as an editor counts).
 */
function watchDocuments(body: string): { value: unknown; at: PathSegment[] }[] {
  const lines = body.split('\n').map((text, index) => ({ text: text.trim(), line: index + 1 }));
  const nonEmpty = lines.filter((l) => l.text !== '');
  if (nonEmpty.length === 0) return [{ value: parseJson(body, 'watch event'), at: [] }];
  if (nonEmpty.length === 1) return [{ value: parseJson(nonEmpty[0]!.text, 'watch event'), at: [] }];
  try {
    return [{ value: JSON.parse(body) as unknown, at: [] }];
  } catch {
    return nonEmpty.map(({ text, line }) => ({
      value: parseJson(text, 'watch event', ['line', line]),
      at: ['line', line],
    }));
  }
}
