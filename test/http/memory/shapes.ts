/**
 * The bodies of the memory test: for each shape, the largest body the configured limits accept (BODY_LIMIT_BYTES,
 * JSON_MAX_TOKENS, JSON_MAX_DEPTH), plus the body of the issue that started it (6 MiB of `[[[…]]]`, refused now).
 * Built with String.repeat, so building one costs the body and nothing else.
 */
import type { Config } from '../../../src/config.ts';

export type Route = 'watch' | 'audit' | 'admission' | 'cloudevents';

export interface Shape {
  route: Route;
  shape: string;
  /** The answer the route gives to it: what the body is accepted or refused as. */
  status: number;
}

export const shapes: Shape[] = [
  // The body: refused at depth JSON_MAX_DEPTH + 1, before anything parses it.
  { route: 'watch', shape: 'nested-6MiB', status: 400 },
  // Nesting at the limit, repeated on as many lines as the value count allows.
  { route: 'watch', shape: 'deepest-lines', status: 400 },
  // One valid event carrying one string as large as the body limit (one-byte and two-byte characters).
  { route: 'watch', shape: 'huge-string', status: 200 },
  { route: 'watch', shape: 'huge-string-utf8', status: 200 },
  // As many empty objects as the value count allows, in one array and as NDJSON lines.
  { route: 'watch', shape: 'small-objects', status: 400 },
  { route: 'watch', shape: 'small-object-lines', status: 400 },
  // Valid watch events as NDJSON up to the body limit: one hint each.
  { route: 'watch', shape: 'valid-events', status: 200 },
  // An audit EventList of empty items (each one a validation issue), and of valid items that are all skipped.
  { route: 'audit', shape: 'empty-items', status: 400 },
  { route: 'audit', shape: 'skipped-items', status: 202 },
  // An AdmissionReview whose object has as many annotations as the value count allows.
  { route: 'admission', shape: 'many-keys', status: 200 },
  // A CloudEvent batch of events of a type that is not handled: every one is parsed and ignored.
  { route: 'cloudevents', shape: 'batch-ignored', status: 202 },
  // A structured CloudEvent whose data_base64 decodes to as many empty objects as the value count allows.
  { route: 'cloudevents', shape: 'base64-objects', status: 400 },
];

type Limits = Pick<Config, 'BODY_LIMIT_BYTES' | 'JSON_MAX_TOKENS' | 'JSON_MAX_DEPTH'>;

const json = { 'content-type': 'application/json' };

/** `unit` repeated as often as fits in `bytes` and `tokens` (each unit costing `unitTokens`). */
function fill(unit: string, bytes: number, tokens: number, unitTokens: number): string {
  const count = Math.max(0, Math.min(Math.floor(bytes / Buffer.byteLength(unit)), Math.floor(tokens / unitTokens)));
  return unit.repeat(count);
}

export function bodyOf(route: Route, shape: string, limits: Limits): { body: string; headers: Record<string, string>; path: string } {
  const bytes = limits.BODY_LIMIT_BYTES;
  const tokens = limits.JSON_MAX_TOKENS;
  const depth = limits.JSON_MAX_DEPTH;
  const path = route === 'admission' ? `/events/admission/${process.env.ADMISSION_PATH_SECRET}` : `/events/${route}`;
  const nodeEvent = (annotation: string) =>
    `{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","annotations":{"a":"${annotation}"}}}}`;
  const withPath = (body: string, headers: Record<string, string> = json) => ({ body, headers, path });

  switch (`${route}/${shape}`) {
    case 'watch/nested-6MiB':
      return withPath('['.repeat(bytes / 2) + ']'.repeat(bytes / 2));
    case 'watch/deepest-lines': {
      const line = `${'['.repeat(depth)}${']'.repeat(depth)}\n`;
      return withPath(fill(line, bytes, tokens, depth), { 'content-type': 'application/x-ndjson' });
    }
    case 'watch/huge-string':
      return withPath(nodeEvent('x'.repeat(bytes - nodeEvent('').length)));
    case 'watch/huge-string-utf8':
      return withPath(nodeEvent('é'.repeat(Math.floor((bytes - nodeEvent('').length) / 2))));
    case 'watch/small-objects':
      return withPath(`[${fill('{},', bytes - 4, tokens - 2, 1)}{}]`);
    case 'watch/small-object-lines':
      return withPath(fill('{}\n', bytes, tokens, 1), { 'content-type': 'application/x-ndjson' });
    case 'watch/valid-events': {
      // Distinct node names, so every line stays a hint after deduplication.
      const lines: string[] = [];
      let size = 0;
      for (let i = 0; ; i++) {
        const line = `{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-${i}"}}}\n`;
        if (size + line.length > bytes || (i + 1) * 13 > tokens) break;
        lines.push(line);
        size += line.length;
      }
      return withPath(lines.join(''), { 'content-type': 'application/x-ndjson' });
    }
    case 'audit/empty-items': {
      const head = '{"apiVersion":"audit.k8s.io/v1","kind":"EventList","items":[';
      return withPath(`${head}${fill('{},', bytes - head.length - 6, tokens - 10, 1)}{}]}`);
    }
    case 'audit/skipped-items': {
      const head = '{"apiVersion":"audit.k8s.io/v1","kind":"EventList","items":[';
      const item = '{"stage":"ResponseComplete","verb":"get"},';
      return withPath(`${head}${fill(item, bytes - head.length - 200, tokens - 20, 5)}${item.slice(0, -1)}]}`);
    }
    case 'admission/many-keys': {
      const head =
        '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE",' +
        '"object":{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","annotations":{';
      // Distinct keys: a repeated key would collapse into one property.
      const keys: string[] = [];
      let size = head.length + 100;
      for (let i = 0; ; i++) {
        const key = `"k${i}":0,`;
        if (size + key.length > bytes || (i + 1) * 2 > tokens - 40) break;
        keys.push(key);
        size += key.length;
      }
      return withPath(`${head}${keys.join('')}"end":0}}}}}`);
    }
    case 'cloudevents/batch-ignored': {
      const event = '{"specversion":"1.0","id":"1","source":"s","type":"dev.knative.sources.ping"},';
      return withPath(`[${fill(event, bytes - 100, tokens - 20, 9)}${event.slice(0, -1)}]`, {
        'content-type': 'application/cloudevents-batch+json',
      });
    }
    case 'cloudevents/base64-objects': {
      const envelope = (data: string) =>
        `{"specversion":"1.0","id":"1","source":"s","type":"dev.knative.apiserver.resource.update","data_base64":"${data}"}`;
      const room = Math.floor(((bytes - envelope('').length) * 3) / 4) - 3;
      const data = `[${fill('{},', room - 3, tokens - 2, 1)}{}]`;
      return withPath(envelope(Buffer.from(data).toString('base64')), { 'content-type': 'application/cloudevents+json' });
    }
    default:
      throw new Error(`unknown shape ${route}/${shape}`);
  }
}
