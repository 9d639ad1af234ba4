// Lambda: the SQS event source mapping of the hints queue (docs/adr/0003-queue.md). Consumes batches of hints.
import { loadConfig } from '../src/config.ts';
import { createSqsLambdaHandler } from '../src/http/lambda.ts';
import { createConsumer } from '../src/wiring.ts';

export const handler = createSqsLambdaHandler(() => createConsumer(loadConfig(process.env)));
