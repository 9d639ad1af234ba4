/**
 * The cold-start baseline: the smallest honest alternative to our functions, a hono app on `hono/aws-lambda` that
 * would talk to the API server with plain `fetch` (no client-node, no zod). Bundled by bench/lib/coldstart.ts with the
 * same esbuild options as scripts/build.ts, then started and called like our functions.
 */
import { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';

const app = new Hono();

app.get('/healthz', (c) => c.json({ ok: true }));

app.post('/events/audit', async (c) => {
  const server = process.env['K8S_SERVER'] ?? 'https://127.0.0.1:6443';
  const response = await fetch(`${server}/api/v1/nodes?limit=1`, {
    headers: { authorization: `Bearer ${process.env['K8S_TOKEN'] ?? ''}` },
  });
  return c.json({ status: response.status });
});

export const handler = handle(app);
