import { describe, expect, it } from 'vitest';
import { PayloadTooLargeError } from '../../src/errors.ts';
import { checkContentType, parseMediaType, UnsupportedMediaTypeError } from '../../src/http/content-type.ts';
import { InvalidInputError } from '../../src/http/invalid-input.ts';
import { checkJson } from '../../src/http/json-guard.ts';

const roomy = { maxDepth: 1_000, maxTokens: 1_000_000 };

describe('checkJson counts what JSON.parse would create', () => {
  it.each([
    ['a number', '42', { tokens: 1, depth: 0 }],
    ['literals', '[true,false,null]', { tokens: 4, depth: 1 }],
    ['keys count', '{"a":1,"b":"x"}', { tokens: 5, depth: 1 }],
    ['nesting', '{"a":[[{"b":[]}]]}', { tokens: 7, depth: 5 }],
    ['negative and exponent numbers', '[-1.5e+10, 0.25E-3]', { tokens: 3, depth: 1 }],
    // Brackets, quotes and line feeds inside strings are string content.
    ['brackets inside strings', '["[[[{{{", "}}]]"]', { tokens: 3, depth: 1 }],
    ['escaped quotes', String.raw`["a\"[b", "c\\", "[d"]`, { tokens: 4, depth: 1 }],
    ['an escaped backslash before the closing quote', String.raw`{"k":"v\\\\"}`, { tokens: 3, depth: 1 }],
    ['NDJSON: several documents', '{"a":1}\n{"b":2}\n', { tokens: 6, depth: 1 }],
    ['whitespace is free', ' \t\r\n [ 1 , 2 ] \n', { tokens: 3, depth: 1 }],
  ])('%s', (_name, text, expected) => {
    expect(checkJson(text, roomy, 'body')).toMatchObject(expected);
    // The scan agrees with the parser on what is valid JSON (NDJSON aside).
    if (!text.includes('}\n{')) expect(() => JSON.parse(text)).not.toThrow();
  });

  it('counts line feeds, also inside strings (the watch route splits on them)', () => {
    expect(checkJson('{}\n\n\n', roomy, 'body').lines).toBe(3);
  });

  it('an unterminated string ends the scan without looping', () => {
    expect(checkJson('["abc', roomy, 'body')).toMatchObject({ tokens: 2 });
  });
});

describe('checkJson refuses before parsing', () => {
  it('400 naming the depth when nesting exceeds maxDepth', () => {
    const error = catching(() => checkJson('[[[[1]]]]', { maxDepth: 3, maxTokens: 100 }, 'watch event'));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error).toMatchObject({
      status: 400,
      message: 'invalid watch event: JSON nested deeper than 3 levels',
      issues: [{ path: '', message: 'nesting exceeds 3 at character 3' }],
    });
  });

  it('nesting at exactly maxDepth passes', () => {
    expect(checkJson('[[[1]]]', { maxDepth: 3, maxTokens: 100 }, 'x').depth).toBe(3);
  });

  it('the issue path names where nested JSON came from', () => {
    const error = catching(() => checkJson('[[1]]', { maxDepth: 1, maxTokens: 100 }, 'CloudEvent data_base64', [2, 'data_base64']));
    expect(error).toMatchObject({ issues: [{ path: '2.data_base64' }] });
  });

  it('413 naming the setting when there are more values than maxTokens', () => {
    const error = catching(() => checkJson('[1,2,3,4]', { maxDepth: 10, maxTokens: 4 }, 'audit EventList'));
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect(error).toMatchObject({ status: 413, message: 'audit EventList has more than 4 JSON values (JSON_MAX_TOKENS)' });
  });

  it('413 when there are more lines than maxTokens', () => {
    const error = catching(() => checkJson(`${'\n'.repeat(10)}{}`, { maxDepth: 10, maxTokens: 5 }, 'watch event'));
    expect(error).toMatchObject({ status: 413, message: 'watch event has more than 5 lines (JSON_MAX_TOKENS)' });
  });

  it('the 6 MiB `[[[…]]]` body of the issue stops at the first excess', () => {
    const half = 3 * 1024 * 1024;
    const started = performance.now();
    expect(() => checkJson('['.repeat(half) + ']'.repeat(half), { maxDepth: 100, maxTokens: 1_000_000 }, 'x')).toThrow(
      'nested deeper than 100 levels',
    );
    expect(performance.now() - started).toBeLessThan(50);
  });
});

describe('Content-Type per route', () => {
  const headers = (init: Record<string, string>) => new Headers(init);

  it.each([
    ['watch', { 'content-type': 'application/json' }],
    ['watch', { 'content-type': 'application/x-ndjson' }],
    ['watch', { 'content-type': 'Application/JSON; charset=UTF-8' }],
    ['audit', { 'content-type': 'application/json' }],
    ['admission', { 'content-type': 'application/json; charset="utf-8"' }],
    ['cloudevents', { 'content-type': 'application/cloudevents+json; charset=utf-8' }],
    ['cloudevents', { 'content-type': 'application/cloudevents-batch+json' }],
    ['cloudevents', { 'content-type': 'application/json', 'ce-specversion': '1.0' }],
    ['cloudevents', { 'content-type': 'application/vnd.example+json', 'ce-specversion': '1.0' }],
  ] as const)('%s accepts %j as JSON', (kind, init) => {
    expect(checkContentType(kind, headers(init))).toBe(true);
  });

  // A binary-mode event of a type daemonless does not read is ignored whatever its data: accepted, not read as JSON.
  it.each([
    { 'content-type': 'text/plain', 'ce-specversion': '1.0', 'ce-type': 'dev.knative.sources.ping' },
    { 'content-type': 'application/octet-stream', 'ce-specversion': '1.0', 'ce-type': 'dev.knative.apiserver.resource.patch' },
    { 'ce-specversion': '1.0', 'ce-type': 'com.example.other' },
    // Its charset too: a 415 would only have the sender retry and dead-letter an event nobody reads.
    { 'content-type': 'text/plain; charset=iso-8859-1', 'ce-specversion': '1.0', 'ce-type': 'dev.knative.sources.ping' },
    // No type: the intake then names the missing ce-type header (400), which says more than a 415 would.
    { 'content-type': 'text/plain', 'ce-specversion': '1.0' },
  ] as Record<string, string>[])('cloudevents accepts %j, its body not as JSON', (init) => {
    expect(checkContentType('cloudevents', headers(init))).toBe(false);
  });

  it.each([
    ['watch', {}, 'missing Content-Type: send application/json or application/x-ndjson'],
    ['audit', { 'content-type': 'text/plain' }, 'Content-Type text/plain: send application/json'],
    ['admission', { 'content-type': 'application/x-www-form-urlencoded' }, 'Content-Type application/x-www-form-urlencoded: send application/json'],
    ['audit', { 'content-type': 'application/json; charset=latin1' }, 'charset latin1 is not accepted: send UTF-8'],
    // Without ce-* headers a plain JSON body is no CloudEvent at all.
    ['cloudevents', { 'content-type': 'application/json' }, /send application\/cloudevents\+json, application\/cloudevents-batch\+json, or a binary-mode CloudEvent/],
    // Binary mode: the body is the event's data, which daemonless reads only as JSON.
    ['cloudevents', { 'content-type': 'text/plain', 'ce-specversion': '1.0', 'ce-type': 'dev.knative.apiserver.resource.update' }, "Content-Type text/plain: a binary-mode CloudEvent's data must be JSON (application/json or application/<type>+json)"],
    ['cloudevents', { 'ce-specversion': '1.0', 'ce-type': '"dev.knative.apiserver.ref%2Eadd"' }, /^missing Content-Type: a binary-mode CloudEvent's data must be JSON/],
    // A type daemonless reads, in another charset: refused.
    ['cloudevents', { 'content-type': 'application/json; charset=latin1', 'ce-specversion': '1.0', 'ce-type': 'dev.knative.apiserver.resource.update' }, 'charset latin1 is not accepted: send UTF-8'],
  ] as const)('%s refuses %j with 415', (kind, init, message) => {
    const error = catching(() => checkContentType(kind, headers(init)));
    expect(error).toBeInstanceOf(UnsupportedMediaTypeError);
    expect((error as UnsupportedMediaTypeError).status).toBe(415);
    expect((error as Error).message).toMatch(message);
  });

  it('parseMediaType lower-cases the type and reads the charset', () => {
    expect(parseMediaType(' Application/JSON ;Charset="UTF-8"; foo=bar')).toEqual({ type: 'application/json', charset: 'utf-8' });
    expect(parseMediaType(null)).toEqual({ type: '', charset: undefined });
  });
});

function catching(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}
