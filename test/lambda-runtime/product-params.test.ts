import { describe, expect, it } from 'vitest';
import { parseParams } from '../../devcluster/lambda/product.ts';

describe('DAEMONLESS_LAMBDA_PARAMS', () => {
  it.each([
    ['reconcileBatchSize=10,reconcileBatchWindowSeconds=0', { reconcileBatchSize: '10', reconcileBatchWindowSeconds: '0' }],
    [' a = 1 , ', { a: '1' }],
    ['path=/x=y', { path: '/x=y' }],
    ['', {}],
  ])('%j → %j', (text, params) => {
    expect(parseParams(text)).toEqual(params);
  });

  it.each(['novalue', '=1'])('refuses %j, naming it', (text) => {
    expect(() => parseParams(text)).toThrow(JSON.stringify(text));
  });
});
