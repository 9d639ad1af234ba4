import { describe, expect, it } from 'vitest';
import { ArgumentError, formatTaint, isQualifiedName, parseLabel, parseTaint, parseTaintSpec } from '../../devcluster/simulator/parse.ts';

describe('parseTaint', () => {
  it.each([
    ['key=value:Effect', 'dedicated=gpu:NoSchedule', { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }],
    ['key:Effect without a value', 'example.com/special:NoExecute', { key: 'example.com/special', effect: 'NoExecute' }],
    ['PreferNoSchedule', 'a=b:PreferNoSchedule', { key: 'a', value: 'b', effect: 'PreferNoSchedule' }],
    // An empty value is the same taint as no value.
    ['empty value', 'a=:NoSchedule', { key: 'a', effect: 'NoSchedule' }],
  ])('%s', (_, raw, taint) => {
    expect(parseTaint(raw)).toEqual(taint);
  });

  it.each([
    ['no effect', 'a=b'],
    ['unknown effect', 'a=b:Sometimes'],
    ['lower-case effect', 'a=b:noschedule'],
    ['bad key', '-a=b:NoSchedule'],
    ['bad value', 'a=b c:NoSchedule'],
    ['removal form', 'a:NoSchedule-'],
    ['empty', ''],
  ])('rejects %s', (_, raw) => {
    expect(() => parseTaint(raw)).toThrow(ArgumentError);
  });

  it('reads kubectl removal forms', () => {
    expect(parseTaintSpec('a:NoSchedule-')).toEqual({ key: 'a', effect: 'NoSchedule', remove: true });
    expect(parseTaintSpec('a-')).toEqual({ key: 'a', remove: true });
  });

  it('formats back', () => {
    expect(formatTaint({ key: 'a', value: 'b', effect: 'NoSchedule' })).toBe('a=b:NoSchedule');
    expect(formatTaint({ key: 'a', effect: 'NoExecute' })).toBe('a:NoExecute');
  });
});

describe('parseLabel', () => {
  it.each([
    ['plain', 'tier=web', { key: 'tier', value: 'web' }],
    ['prefixed key', 'example.com/pool=a-1', { key: 'example.com/pool', value: 'a-1' }],
    ['empty value', 'flag=', { key: 'flag', value: '' }],
    ['removal', 'tier-', { key: 'tier', value: null }],
  ])('%s', (_, raw, expected) => {
    expect(parseLabel(raw)).toEqual(expected);
  });

  it.each([
    ['no =', 'tier'],
    ['space in value', 'a=b c'],
    ['value too long', `a=${'x'.repeat(64)}`],
    ['upper-case prefix', 'Example.com/a=b'],
  ])('rejects %s', (_, raw) => {
    expect(() => parseLabel(raw)).toThrow(ArgumentError);
  });
});

describe('isQualifiedName', () => {
  it.each([
    ['kubernetes.io/hostname', true],
    ['a', true],
    ['a/b/c', false],
    ['/a', false],
    [`${'a'.repeat(64)}`, false],
  ])('%s → %s', (key, ok) => {
    expect(isQualifiedName(key)).toBe(ok);
  });
});
