// Lambda: POST /events/watch. Dependencies are built once per cold start.
import { loadConfig } from '../src/config.ts';
import { createHttpLambdaHandler } from '../src/http/lambda.ts';
import { createDeps } from '../src/wiring.ts';

export const handler = createHttpLambdaHandler(() => createDeps(loadConfig(process.env)));
