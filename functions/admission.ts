// Lambda: POST /events/admission/:secret. Answers at once; with the queue (serverless.yml) the hints go to it delayed by
// the settle time (docs/adr/0003-queue.md); without one, to an asynchronous invocation of this same function, which
// reconciles once the change is stored (docs/adr/0001-admission-on-lambda.md).
import { loadConfig } from '../src/config.ts';
import { createHttpLambdaHandler } from '../src/http/lambda.ts';
import { createDeps } from '../src/wiring.ts';

// Serves only its own route: it needs only the path secret, and refuses to start without it.
export const handler = createHttpLambdaHandler(async () => ({ ...(await createDeps(loadConfig(process.env))), routes: ['admission'] }), { deferToSelf: {} });
