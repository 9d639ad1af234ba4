/**
 * What each route reads, by Content-Type. Checked before the body is read: a sender that posts the wrong kind of
 * document gets a 415 naming what to send instead of a parse error deep inside it.
 *
 *   watch        application/json, application/x-ndjson (one event, or newline-delimited events)
 *   audit        application/json (the API server's audit webhook)
 *   admission    application/json (the API server's admission webhook)
 *   cloudevents  application/cloudevents+json (structured), application/cloudevents-batch+json (batch), or binary
 *                mode: `ce-specversion` and the other attributes as headers, Content-Type the data's own type, which
 *                must be JSON (application/json or application/<x>+json: Knative ApiServerSource sends JSON) unless
 *                the event's type is not one daemonless reads (then it is ignored, 202, whatever its data)
 *
 * Parameters other than `charset` are ignored; a charset other than UTF-8 is refused (bodies are decoded as UTF-8).
 */
import { DaemonlessError } from '../errors.ts';
import { decodeHeaderValue, isHandledCloudEventType, isJsonMediaType } from './intake/cloudevents.ts';
import { shortened } from './invalid-input.ts';

export class UnsupportedMediaTypeError extends DaemonlessError {
  override name = 'UnsupportedMediaTypeError';
  override readonly status = 415;
}

export type BodyKind = 'watch' | 'audit' | 'admission' | 'cloudevents';

interface MediaType {
  /** Lower case, without parameters; '' when the header is absent. */
  type: string;
  charset: string | undefined;
}

export function parseMediaType(header: string | null): MediaType {
  const [type = '', ...parameters] = (header ?? '').split(';');
  let charset: string | undefined;
  for (const parameter of parameters) {
    const [name, value] = parameter.split('=', 2).map((s) => s.trim());
    if (name?.toLowerCase() === 'charset' && value) charset = value.replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return { type: type.trim().toLowerCase(), charset };
}

const accepted: Record<Exclude<BodyKind, 'cloudevents'>, readonly string[]> = {
  watch: ['application/json', 'application/x-ndjson'],
  audit: ['application/json'],
  admission: ['application/json'],
};

/**
 * Throws `UnsupportedMediaTypeError` (415) naming what the route takes when `headers` announce something else.
 * Returns whether the body is JSON (false only for the data of a binary-mode CloudEvent that is ignored unread).
 */
export function checkContentType(kind: BodyKind, headers: Headers): boolean {
  const media = parseMediaType(headers.get('content-type'));
  const shown = media.type === '' ? 'missing Content-Type' : `Content-Type ${shortened(media.type, 100)}`;
  // A binary-mode CloudEvent of a type daemonless does not read is ignored (202) whatever its data and its charset;
  // its type is checked as the intake reads it (percent-encoded, maybe quoted).
  const structured = media.type === 'application/cloudevents+json' || media.type === 'application/cloudevents-batch+json';
  const binaryType = kind === 'cloudevents' && !structured && headers.has('ce-specversion') ? headers.get('ce-type') : null;
  if (binaryType !== null && !isHandledCloudEventType(decodeHeaderValue(binaryType))) return false;
  if (media.charset !== undefined && media.charset !== 'utf-8' && media.charset !== 'utf8') {
    throw new UnsupportedMediaTypeError(`charset ${shortened(media.charset, 100)} is not accepted: send UTF-8`);
  }
  if (kind !== 'cloudevents') {
    const types = accepted[kind];
    if (!types.includes(media.type)) throw new UnsupportedMediaTypeError(`${shown}: send ${types.join(' or ')}`);
    return true;
  }
  if (structured) return true;
  if (headers.has('ce-specversion')) {
    if (isJsonMediaType(media.type)) return true;
    // No type: the intake then names the missing ce-type header (400), which says more than a 415 would.
    if (binaryType === null) return false;
    throw new UnsupportedMediaTypeError(
      `${shown}: a binary-mode CloudEvent's data must be JSON (application/json or application/<type>+json)`,
    );
  }
  throw new UnsupportedMediaTypeError(
    `${shown}: send application/cloudevents+json, application/cloudevents-batch+json, or a binary-mode CloudEvent ` +
      '(ce-* headers, Content-Type application/json)',
  );
}
