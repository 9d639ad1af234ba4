/**
 * One memory measurement, run as its own process from a bundle built like the functions' (test/http/memory.test.ts):
 * the real dependencies of a function (`createDeps`: configuration, client-node, logger) with the reconciler replaced
 * by one that answers at once, behind the Lambda helper, fed one API Gateway v2 event the way the Lambda runtime
 * feeds it (the invocation arrives as JSON text and is parsed into the event). Prints one JSON line: the answer's
 * status and error, and the process's peak RSS (`maxRSS`: the high-water mark, so nothing between samples is missed).
 *
 * argv: <route> <shape>; the environment carries the function's configuration (BODY_LIMIT_BYTES, JSON_MAX_*).
 */
import type { LambdaContext, LambdaEvent } from 'hono/aws-lambda';
import { loadConfig } from '../../../src/config.ts';
import { createHttpLambdaHandler } from '../../../src/http/lambda.ts';
import { createDeps } from '../../../src/wiring.ts';
import { bodyOf, type Route } from './shapes.ts';

const [route, shape] = process.argv.slice(2) as [Route, string];
const config = loadConfig(process.env);

const handler = createHttpLambdaHandler(async () => ({
  ...(await createDeps(config)),
  handler: { handle: async (hints) => ({ hints: hints.length, created: 0, deleted: 0, apiRequests: 0 }) },
}));

const request = bodyOf(route, shape, config);
const { headers, path } = request;
const bodyBytes = Buffer.byteLength(request.body);
let invocation: string | undefined = JSON.stringify({
  version: '2.0',
  routeKey: `POST ${path}`,
  rawPath: path,
  rawQueryString: '',
  headers: { authorization: `Bearer ${process.env.BEARER_TOKEN}`, 'content-length': String(bodyBytes), ...headers },
  requestContext: { http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'memory-test' }, routeKey: `POST ${path}`, stage: '$default' },
  body: request.body,
  isBase64Encoded: false,
});
request.body = ''; // only the invocation text remains, as in the Lambda runtime
const event = JSON.parse(invocation) as LambdaEvent;
invocation = undefined;

const started = performance.now();
const result = (await handler(event, { awsRequestId: 'memory', getRemainingTimeInMillis: () => 29_000 } as LambdaContext)) as {
  statusCode: number;
  body: string;
};
const durationMs = Math.round(performance.now() - started);
const answer = JSON.parse(result.body) as { error?: string };
process.stdout.write(
  `${JSON.stringify({
    route,
    shape,
    bodyBytes,
    status: result.statusCode,
    error: answer.error,
    durationMs,
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  })}\n`,
);
