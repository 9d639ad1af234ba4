// Lambda: EKS audit logs, through a CloudWatch Logs subscription filter on the control plane log group (EKS has no audit webhook).
import { loadConfig } from '../src/config.ts';
import { createCloudWatchLogsLambdaHandler } from '../src/http/lambda.ts';
import { createDeps } from '../src/wiring.ts';

export const handler = createCloudWatchLogsLambdaHandler(() => createDeps(loadConfig(process.env)));
