import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';

describe('createLogger', () => {
  const at = () => new Date('2026-06-01T10:00:00.000Z');

  it('writes one JSON object per line with level, time, message and fields', () => {
    const lines: string[] = [];
    createLogger('info', (l) => lines.push(l), at).info('request', { route: 'watch', status: 200 });
    expect(lines).toEqual(['{"level":"info","time":"2026-06-01T10:00:00.000Z","msg":"request","route":"watch","status":200}']);
  });

  it('drops lines below its level', () => {
    const lines: string[] = [];
    const log = createLogger('warn', (l) => lines.push(l), at);
    log.debug('a');
    log.info('b');
    log.warn('c');
    log.error('d');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['c', 'd']);
  });

  it('child loggers add their fields to every line', () => {
    const lines: string[] = [];
    createLogger('debug', (l) => lines.push(l), at).child({ fn: 'audit' }).debug('x', { n: 1 });
    expect(JSON.parse(lines[0]!)).toMatchObject({ fn: 'audit', n: 1, msg: 'x' });
  });

  it('serialises errors with name and message', () => {
    const lines: string[] = [];
    createLogger('debug', (l) => lines.push(l), at).error('failed', { error: new TypeError('bad') });
    expect(JSON.parse(lines[0]!).error).toMatchObject({ name: 'TypeError', message: 'bad' });
  });
});
