/** CloudWatch Logs subscription events carrying EKS audit events (src/http/intake/cloudwatch-logs.ts). */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { intakeCloudWatchLogs } from '../../src/http/intake/cloudwatch-logs.ts';
import { InvalidInputError } from '../../src/http/invalid-input.ts';

const wrap = (payload: unknown) => ({ awslogs: { data: gzipSync(typeof payload === 'string' ? payload : JSON.stringify(payload)).toString('base64') } });
const data = (...messages: string[]) => ({ messageType: 'DATA_MESSAGE', logGroup: '/aws/eks/c/cluster', logStream: 'kube-apiserver-audit-1', logEvents: messages.map((message, i) => ({ id: String(i), timestamp: 1, message })) });
const nodeCreated = JSON.stringify({
  kind: 'Event',
  apiVersion: 'audit.k8s.io/v1',
  stage: 'ResponseComplete',
  verb: 'create',
  objectRef: { resource: 'nodes', name: 'ip-10-0-1-7.ec2.internal', apiVersion: 'v1' },
  responseStatus: { code: 201 },
  responseObject: { kind: 'Node', apiVersion: 'v1', metadata: { name: 'ip-10-0-1-7.ec2.internal' } },
});

const limits = { maxDepth: 100, maxTokens: 1_000_000 };

describe('intakeCloudWatchLogs', () => {
  it('each log event is one audit event, handled as the webhook handles it', () => {
    const readOnly = JSON.stringify({ stage: 'ResponseComplete', verb: 'get', objectRef: { resource: 'nodes', name: 'x' }, responseStatus: { code: 200 } });
    expect(intakeCloudWatchLogs(wrap(data(nodeCreated, readOnly)), 1 << 20, limits)).toMatchObject({ hints: [{ kind: 'node', name: 'ip-10-0-1-7.ec2.internal' }], ignored: [], skipped: 1 });
  });

  it('a CONTROL_MESSAGE carries nothing', () => {
    const control = { messageType: 'CONTROL_MESSAGE', logEvents: [{ id: '', timestamp: 0, message: 'CWL CONTROL MESSAGE: Checking health of destination' }] };
    expect(intakeCloudWatchLogs(wrap(control), 1 << 20, limits).hints).toEqual([]);
  });

  it.each([
    ['no awslogs.data', {}, 'awslogs'],
    ['data that is not gzip', { awslogs: { data: Buffer.from('plain').toString('base64') } }, 'awslogs.data'],
    ['a payload that is not JSON', wrap('{nope'), 'awslogs.data'],
    ['an unknown messageType', wrap({ messageType: 'OTHER', logEvents: [] }), 'awslogs.data.messageType'],
    ['a message that is not JSON', wrap(data('not json')), 'awslogs.data.logEvents.0.message'],
    ['a node name that is not one', wrap(data(nodeCreated.replaceAll('ip-10-0-1-7.ec2.internal', 'a,b'))), 'awslogs.data.logEvents.0.message.responseObject.metadata.name'],
  ])('refuses %s, naming where', (_name, event, path) => {
    const error = (() => {
      try {
        intakeCloudWatchLogs(event, 1 << 20, limits);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).issues.map((i) => i.path)).toContain(path);
  });

  it.each([
    ['a message nested deeper than JSON_MAX_DEPTH', () => wrap(data(`${'['.repeat(5_000)}${']'.repeat(5_000)}`)), /deeper|depth|nest/i],
    ['a message of more values than JSON_MAX_TOKENS', () => wrap(data(`[${'{},'.repeat(2_000)}{}]`)), /JSON_MAX_TOKENS/],
    ['a payload of more values than JSON_MAX_TOKENS', () => wrap({ messageType: 'DATA_MESSAGE', logEvents: Array.from({ length: 700 }, () => ({ message: '{}' })) }), /JSON_MAX_TOKENS/],
  ])('refuses %s before parsing it', (_name, event, message) => {
    expect(() => intakeCloudWatchLogs(event(), 1 << 20, { maxDepth: 100, maxTokens: 1_000 })).toThrow(message);
  });

  it('stops decompressing at the bound: a gzip bomb is refused, not inflated', () => {
    const bomb = { awslogs: { data: gzipSync(Buffer.alloc(50 << 20, 0x20)).toString('base64') } };
    expect(bomb.awslogs.data.length).toBeLessThan(200_000);
    expect(() => intakeCloudWatchLogs(bomb, 6 << 20, limits)).toThrow(InvalidInputError);
  });
});
