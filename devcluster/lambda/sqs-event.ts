/**
 * The SQS event source mapping's pure part: the event Lambda builds from received messages, and how it reads a
 * function's partial-batch response (ReportBatchItemFailures).
 */
import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs';

export interface SqsRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: Record<string, string>;
  messageAttributes: Record<string, { stringValue?: string; binaryValue?: string; stringListValues: string[]; binaryListValues: string[]; dataType: string }>;
  md5OfBody: string;
  md5OfMessageAttributes?: string;
  eventSource: 'aws:sqs';
  eventSourceARN: string;
  awsRegion: string;
}

/** The system attributes Lambda passes on (those SQS returns for `All`, minus the ones Lambda leaves out). */
const passedAttributes = [
  'ApproximateReceiveCount',
  'SentTimestamp',
  'SenderId',
  'ApproximateFirstReceiveTimestamp',
  'AWSTraceHeader',
  'SequenceNumber',
  'MessageGroupId',
  'MessageDeduplicationId',
  'DeadLetterQueueSourceArn',
] as const;

export function queueArn(region: string, accountId: string, queueName: string): string {
  return `arn:aws:sqs:${region}:${accountId}:${queueName}`;
}

export function toSqsRecord(message: Message, eventSourceARN: string, awsRegion: string): SqsRecord {
  const attributes: Record<string, string> = {};
  for (const name of passedAttributes) {
    const value = message.Attributes?.[name as keyof NonNullable<Message['Attributes']>];
    if (value !== undefined) attributes[name] = value;
  }
  const messageAttributes: SqsRecord['messageAttributes'] = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) messageAttributes[name] = attributeOf(value);
  const record: SqsRecord = {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes,
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion,
  };
  if (message.MD5OfMessageAttributes) record.md5OfMessageAttributes = message.MD5OfMessageAttributes;
  return record;
}

function attributeOf(value: MessageAttributeValue): SqsRecord['messageAttributes'][string] {
  const out: SqsRecord['messageAttributes'][string] = {
    stringListValues: [],
    binaryListValues: [],
    dataType: value.DataType ?? 'String',
  };
  if (value.StringValue !== undefined) out.stringValue = value.StringValue;
  if (value.BinaryValue !== undefined) out.binaryValue = Buffer.from(value.BinaryValue).toString('base64');
  return out;
}

export type BatchVerdict =
  /** Delete these message ids (successes); the rest become visible again after the visibility timeout. */
  { kind: 'partial'; failedIds: string[] } | { kind: 'all-succeeded' } | { kind: 'all-failed'; reason: string };

/**
 * Lambda's reading of a function's answer to an SQS batch. Without ReportBatchItemFailures: success deletes the batch.
 * With it: `{ batchItemFailures: [{ itemIdentifier }] }` keeps exactly those; an empty or null response, or an empty
 * list, is full success; an itemIdentifier that is empty, missing or not in the batch fails the whole batch.
 */
export function judgeBatch(
  outcome: { kind: 'ok'; payload: string } | { kind: 'error' },
  reportBatchItemFailures: boolean,
  batchIds: readonly string[],
): BatchVerdict {
  if (outcome.kind === 'error') return { kind: 'all-failed', reason: 'function error' };
  if (!reportBatchItemFailures) return { kind: 'all-succeeded' };
  let response: unknown;
  try {
    response = outcome.payload.trim() === '' ? null : JSON.parse(outcome.payload);
  } catch {
    return { kind: 'all-failed', reason: 'response is not JSON' };
  }
  if (response === null || typeof response !== 'object') return { kind: 'all-succeeded' };
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'all-succeeded' };
  if (!Array.isArray(failures)) return { kind: 'all-failed', reason: 'batchItemFailures is not a list' };
  if (failures.length === 0) return { kind: 'all-succeeded' };
  const known = new Set(batchIds);
  const failedIds: string[] = [];
  for (const failure of failures) {
    const id = failure && typeof failure === 'object' ? (failure as { itemIdentifier?: unknown }).itemIdentifier : undefined;
    if (typeof id !== 'string' || id === '' || !known.has(id)) {
      return { kind: 'all-failed', reason: `invalid itemIdentifier ${JSON.stringify(id)}` };
    }
    failedIds.push(id);
  }
  return { kind: 'partial', failedIds };
}
