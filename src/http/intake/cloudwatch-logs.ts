/**
 * EKS audit logs without any in-cluster component: the control plane's audit log goes to CloudWatch Logs, and a
 * subscription filter invokes a function with `{"awslogs":{"data": base64(gzip(JSON))}}`, the JSON being
 * `{messageType, logGroup, logStream, logEvents: [{id, timestamp, message}]}` and each `message` one audit event. The
 * events then go through exactly the audit webhook's handling (./audit.ts). CONTROL_MESSAGE batches (CloudWatch
 * checking the destination) carry none.
 *
 * Bounded: the decompressed payload may not exceed `maxBytes` (zlib stops there); the payload and then each message
 * pass the JSON guard (depth, number of values: JSON_MAX_DEPTH, JSON_MAX_TOKENS) before they are parsed, alone.
 */
import { gunzipSync } from 'node:zlib';
import * as z from '../../zod.ts';
import { emptyIntake, type Intake } from '../hints-from-object.ts';
import { InvalidInputError, parseAt, parseJson } from '../invalid-input.ts';
import { checkJson, type JsonLimits } from '../json-guard.ts';
import { intakeAuditEvent } from './audit.ts';

export const CloudWatchLogsEventSchema = z.object({ awslogs: z.object({ data: z.string().check(z.minLength(1)) }) });

const PayloadSchema = z.looseObject({
  messageType: z.enum(['DATA_MESSAGE', 'CONTROL_MESSAGE']),
  logGroup: z.optional(z.string()),
  logStream: z.optional(z.string()),
  logEvents: z.array(z.looseObject({ id: z.optional(z.string()), timestamp: z.optional(z.number()), message: z.string() })),
});

export function intakeCloudWatchLogs(event: unknown, maxBytes: number, limits: JsonLimits): Intake {
  const envelope = parseAt(CloudWatchLogsEventSchema, event, [], 'CloudWatch Logs event');
  let json: string;
  try {
    json = gunzipSync(Buffer.from(envelope.awslogs.data, 'base64'), { maxOutputLength: maxBytes }).toString('utf8');
  } catch (error) {
    const message = error instanceof RangeError ? `decompressed payload exceeds ${maxBytes} bytes` : 'not gzip data';
    throw new InvalidInputError('invalid CloudWatch Logs event', [{ path: 'awslogs.data', message }]);
  }
  checkJson(json, limits, 'CloudWatch Logs payload', ['awslogs', 'data']);
  const payload = parseAt(PayloadSchema, parseJson(json, 'CloudWatch Logs payload', ['awslogs', 'data']), ['awslogs', 'data'], 'CloudWatch Logs payload');
  const intake = emptyIntake();
  if (payload.messageType === 'CONTROL_MESSAGE') return intake;
  payload.logEvents.forEach((logEvent, index) => {
    const at = ['awslogs', 'data', 'logEvents', index, 'message'];
    checkJson(logEvent.message, limits, 'audit event', at);
    intakeAuditEvent(intake, parseJson(logEvent.message, 'audit event', at), at, 'audit event');
  });
  return intake;
}
