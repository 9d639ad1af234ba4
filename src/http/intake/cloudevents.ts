/**
 * CloudEvents from a Knative ApiServerSource, in binary mode (its default: `ce-*` headers, the body is `data`),
 * structured mode (`application/cloudevents+json`) or batch mode (`application/cloudevents-batch+json`).
 *
 * Types `dev.knative.apiserver.resource.{add,update,delete}` carry the whole object (Resource mode); types
 * `dev.knative.apiserver.ref.{add,update,delete}` carry an ObjectReference (Reference mode, Knative's default), which
 * names a Node or a DaemonSet but not a pod's node. Hand-parsed with zod: no cloudevents package.
 */
import * as z from '../../zod.ts';
import { addMapped, emptyIntake, hintFromObject, objectFromReference, type Intake, type Operation } from '../hints-from-object.ts';
import { InvalidInputError, issuesOf, parseAt, parseJson, shortened, type PathSegment } from '../invalid-input.ts';
import { checkJson, type JsonLimits } from '../json-guard.ts';
import { CloudEventSchema, KubeObjectSchema, ObjectReferenceSchema, type CloudEvent } from '../schemas.ts';

const operations: Record<string, Operation | undefined> = { add: 'added', update: 'update', delete: 'delete' };

const typePattern = /^dev\.knative\.apiserver\.(resource|ref)\.(add|update|delete)$/;

/** Whether a binary-mode event's data, of this media type (lower case, no parameters), is JSON. */
export function isJsonMediaType(type: string): boolean {
  return /^application\/([\w.-]+\+)?json$/.test(type);
}

/**
 * Whether daemonless reads CloudEvents of this type; others are ignored, whatever their data (content-type.ts lets a
 * binary-mode event of another type through with data that is not JSON, to be ignored rather than refused).
 */
export function isHandledCloudEventType(type: string): boolean {
  return typePattern.test(type);
}

/** Attributes read from `ce-` headers in binary mode; any other `ce-` header is an extension and is not needed. */
const binaryAttributes = ['specversion', 'id', 'source', 'type', 'subject', 'time'] as const;

/**
 * `body` has been checked against `limits` by the route. `data_base64` is JSON inside a string, so it is checked here
 * before it is parsed, all of a batch's against one budget of `limits.maxTokens` values.
 */
export function intakeCloudEvents(headers: Headers, body: string, limits: JsonLimits): Intake {
  const intake = emptyIntake();
  const budget = { ...limits };
  for (const { event, at } of cloudEvents(headers, body)) intakeEvent(intake, event, at, budget);
  return intake;
}

function intakeEvent(intake: Intake, event: CloudEvent, at: PathSegment[], budget: JsonLimits): void {
  const match = typePattern.exec(event.type);
  if (!match) {
    intake.ignored.push(`CloudEvent type ${shortened(event.type, 100)} is not handled`);
    return;
  }
  const [, mode, verb] = match;
  const operation = operations[verb!]!;
  const data = eventData(event, at, budget);
  if (mode === 'ref') {
    const ref = parseAt(ObjectReferenceSchema, data, [...at, 'data'], 'CloudEvent');
    addMapped(intake, hintFromObject(objectFromReference(ref), operation));
  } else {
    const object = parseAt(KubeObjectSchema, data, [...at, 'data'], 'CloudEvent');
    addMapped(intake, hintFromObject(object, operation));
  }
}

/** Decodes `data_base64` within what is left of `budget` (and takes its share). */
function eventData(event: CloudEvent, at: PathSegment[], budget: JsonLimits): unknown {
  if (event.data_base64 === undefined) return event.data;
  const text = Buffer.from(event.data_base64, 'base64').toString('utf8');
  budget.maxTokens -= checkJson(text, budget, 'CloudEvent data_base64', [...at, 'data_base64']).tokens;
  return parseJson(text, 'CloudEvent data_base64', [...at, 'data_base64']);
}

function cloudEvents(headers: Headers, body: string): { event: CloudEvent; at: PathSegment[] }[] {
  const mediaType = (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'application/cloudevents+json') {
    return [{ event: parseAt(CloudEventSchema, parseJson(body, 'CloudEvent'), [], 'CloudEvent'), at: [] }];
  }
  if (mediaType === 'application/cloudevents-batch+json') {
    const batch = parseAt(z.array(z.unknown()), parseJson(body, 'CloudEvent batch'), [], 'CloudEvent batch');
    return batch.map((value, index) => ({
      event: parseAt(CloudEventSchema, value, [index], 'CloudEvent'),
      at: [index],
    }));
  }
  return [{ event: binaryEvent(headers, body, mediaType), at: [] }];
}

/** Binary mode: every attribute is a `ce-<name>` header (percent-encoded), the body is the data. */
function binaryEvent(headers: Headers, body: string, mediaType: string): CloudEvent {
  if (!headers.has('ce-specversion')) {
    throw new InvalidInputError('not a CloudEvent', [
      {
        path: 'headers.ce-specversion',
        message: 'missing; send ce-* headers (binary mode) or Content-Type application/cloudevents+json',
      },
    ]);
  }
  const attributes: Record<string, unknown> = {};
  for (const name of binaryAttributes) {
    const value = headers.get(`ce-${name}`);
    if (value !== null) attributes[name] = decodeHeaderValue(value);
  }
  if (mediaType) attributes['datacontenttype'] = mediaType;
  // Data that is not JSON (only an event of another type gets this far with it) is neither read nor kept.
  if (body.trim() !== '' && isJsonMediaType(mediaType)) attributes['data'] = parseJson(body, 'CloudEvent data', ['data']);
  const result = CloudEventSchema.safeParse(attributes);
  if (result.success) return result.data;
  // Name the header a problem came from, not the attribute.
  const issues = issuesOf(result.error).map((issue) => {
    const [head, ...rest] = issue.path.split('.');
    const path = head === 'data' ? issue.path : ['headers', `ce-${head}`, ...rest].join('.');
    return { ...issue, path };
  });
  throw new InvalidInputError('invalid CloudEvent', issues);
}

/** Header values are percent-encoded (space, `"`, `%`, non-printable); some senders also quote them. */
export function decodeHeaderValue(raw: string): string {
  const unquoted = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  try {
    return decodeURIComponent(unquoted);
  } catch {
    return unquoted;
  }
}
