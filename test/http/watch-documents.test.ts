import { describe, expect, it } from 'vitest';
import { jsonDocuments } from '../../src/http/intake/watch.ts';

describe('jsonDocuments: top-level values one after the other', () => {
  it.each([
    ['two objects over lines', '{\n  "a": 1\n}\n{\n  "b": [1, {"c": 2}]\n}\n', ['{\n  "a": 1\n}', '{\n  "b": [1, {"c": 2}]\n}']],
    ['brackets and an escaped quote inside strings', '{"s": "}\\"{["}{"t": "]"}', ['{"s": "}\\"{["}', '{"t": "]"}']],
    ['an array, then an object', '[1,2] {"x":{}}', ['[1,2]', '{"x":{}}']],
    ['an unclosed value: the rest, for the parser to name', '{"a": 1}\n{"b": ', ['{"a": 1}', '{"b":']],
    ['something that is no object or array: the rest', '{"a": 1}\nnope {"b": 2}', ['{"a": 1}', 'nope {"b": 2}']],
    ['only whitespace', ' \n\t', []],
  ])('%s', (_name, body, documents) => {
    expect([...jsonDocuments(body)]).toEqual(documents);
  });
});
