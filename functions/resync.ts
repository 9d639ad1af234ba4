// Lambda: the schedule (EventBridge, rate(5 minutes)) reconciles every DaemonSet on every node. Not HTTP.
import { loadConfig } from '../src/config.ts';
import { createResyncLambdaHandler } from '../src/http/lambda.ts';
import { createResyncDeps } from '../src/wiring.ts';

export const handler = createResyncLambdaHandler(() => createResyncDeps(loadConfig(process.env)));
