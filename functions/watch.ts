// Lambda: POST /events/watch. Dependencies, secrets included, are built once per cold start.
import { loadConfig } from '../src/config.ts';
import { createHttpLambdaHandler } from '../src/http/lambda.ts';
import { createDeps } from '../src/wiring.ts';

// Serves only its own route: it needs only that route's secret, and refuses to start without it.
export const handler = createHttpLambdaHandler(async () => ({ ...(await createDeps(loadConfig(process.env))), routes: ['watch'] }));
