import { describe, expect, it } from 'vitest';
import { judgeBatch, toSqsRecord } from '../../devcluster/lambda/sqs-event.ts';
import { parseReportLine } from '../../devcluster/lambda/instance.ts';

const ids = ['m1', 'm2', 'm3'];

describe('judgeBatch', () => {
  it.each([
    { name: 'error fails the whole batch', outcome: { kind: 'error' as const }, report: true, want: { kind: 'all-failed' } },
    { name: 'success without ReportBatchItemFailures', outcome: { kind: 'ok' as const, payload: '{"batchItemFailures":[{"itemIdentifier":"m1"}]}' }, report: false, want: { kind: 'all-succeeded' } },
    { name: 'listed failures stay', outcome: { kind: 'ok' as const, payload: '{"batchItemFailures":[{"itemIdentifier":"m2"}]}' }, report: true, want: { kind: 'partial', failedIds: ['m2'] } },
    { name: 'empty list is success', outcome: { kind: 'ok' as const, payload: '{"batchItemFailures":[]}' }, report: true, want: { kind: 'all-succeeded' } },
    { name: 'null response is success', outcome: { kind: 'ok' as const, payload: 'null' }, report: true, want: { kind: 'all-succeeded' } },
    { name: 'unknown id fails the batch', outcome: { kind: 'ok' as const, payload: '{"batchItemFailures":[{"itemIdentifier":"zz"}]}' }, report: true, want: { kind: 'all-failed' } },
    { name: 'empty id fails the batch', outcome: { kind: 'ok' as const, payload: '{"batchItemFailures":[{"itemIdentifier":""}]}' }, report: true, want: { kind: 'all-failed' } },
    { name: 'non-list fails the batch', outcome: { kind: 'ok' as const, payload: '{"batchItemFailures":"m1"}' }, report: true, want: { kind: 'all-failed' } },
  ])('$name', ({ outcome, report, want }) => {
    expect(judgeBatch(outcome, report, ids)).toMatchObject(want);
  });
});

describe('toSqsRecord', () => {
  it("builds Lambda's record from a received message", () => {
    const record = toSqsRecord(
      {
        MessageId: 'id-1',
        ReceiptHandle: 'rh',
        Body: 'hello',
        MD5OfBody: '5d41402abc4b2a76b9719d911017c592',
        Attributes: { ApproximateReceiveCount: '2', SentTimestamp: '1', ApproximateFirstReceiveTimestamp: '2', SenderId: 'AID', VisibilityTimeout: '30' } as never,
        MessageAttributes: { k: { DataType: 'String', StringValue: 'v' }, b: { DataType: 'Binary', BinaryValue: new Uint8Array([1, 2]) } },
      },
      'arn:aws:sqs:us-east-1:1:q',
      'us-east-1',
    );
    expect(record).toEqual({
      messageId: 'id-1',
      receiptHandle: 'rh',
      body: 'hello',
      attributes: { ApproximateReceiveCount: '2', SentTimestamp: '1', SenderId: 'AID', ApproximateFirstReceiveTimestamp: '2' },
      messageAttributes: {
        k: { stringValue: 'v', stringListValues: [], binaryListValues: [], dataType: 'String' },
        b: { binaryValue: 'AQI=', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
      },
      md5OfBody: '5d41402abc4b2a76b9719d911017c592',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:1:q',
      awsRegion: 'us-east-1',
    });
  });
});

describe("RIE's REPORT line", () => {
  it('reads init, duration and billed duration', () => {
    const line = 'REPORT RequestId: x\tInit Duration: 0.03 ms\tDuration: 125.47 ms\tBilled Duration: 126 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t';
    expect(parseReportLine(line)).toEqual({ initDurationMs: 0.03, durationMs: 125.47, billedDurationMs: 126 });
  });
});
