/**
 * A counting pass-through in front of the local SQS endpoint (ElasticMQ), for benchmarks: SQS bills every API request
 * (per 64 KB chunk of payload), the functions' sends and the event source mapping's receives and deletes alike, and
 * neither ElasticMQ nor the SDK counts them. Every request and its answer are forwarded unchanged; only the action
 * (`X-Amz-Target: AmazonSQS.<Action>` of the JSON protocol, `Action=` of the query protocol), the messages it carried
 * and its payload size are recorded. Opt-in (ServiceOptions.countSqsRequests): the tests' path stays direct.
 */
import { request, createServer, type IncomingMessage, type Server } from 'node:http';

/** Per action: requests, billed requests (one per started 64 KB of payload), messages sent or received. */
export interface SqsActionStats {
  requests: number;
  billedRequests: number;
  messages: number;
}

export type SqsRequestStats = Record<string, SqsActionStats>;

export interface SqsCounter {
  url: string;
  stats: SqsRequestStats;
  stop(): Promise<void>;
}

/** SQS's billing unit: every started 64 KB of a request's payload is one request. */
export const SQS_CHUNK_BYTES = 64 * 1024;

/** The action of an SQS API request, from its `X-Amz-Target` header (JSON protocol) or its query body. Pure. */
export function sqsActionOf(target: string | undefined, body: string): string {
  if (target?.startsWith('AmazonSQS.')) return target.slice('AmazonSQS.'.length);
  const query = /(?:^|&)Action=([A-Za-z]+)/.exec(body);
  return query?.[1] ?? 'unknown';
}

/**
 * Messages a request moved and the payload it is billed by: sends count their entries (request body), receives the
 * messages answered (response body). Pure; bodies that are not JSON count as one message-less request.
 */
export function sqsMessagesOf(action: string, requestBody: string, responseBody: string): { messages: number; payloadBytes: number } {
  const parse = (text: string): Record<string, unknown> => {
    try {
      const value = JSON.parse(text) as unknown;
      return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  };
  if (action === 'SendMessage') return { messages: 1, payloadBytes: Buffer.byteLength(String(parse(requestBody)['MessageBody'] ?? '')) };
  if (action === 'SendMessageBatch') {
    const entries = parse(requestBody)['Entries'];
    const list = Array.isArray(entries) ? (entries as { MessageBody?: unknown }[]) : [];
    return { messages: list.length, payloadBytes: list.reduce((sum, e) => sum + Buffer.byteLength(String(e.MessageBody ?? '')), 0) };
  }
  if (action === 'ReceiveMessage') {
    const messages = parse(responseBody)['Messages'];
    const list = Array.isArray(messages) ? (messages as { Body?: unknown }[]) : [];
    return { messages: list.length, payloadBytes: list.reduce((sum, m) => sum + Buffer.byteLength(String(m.Body ?? '')), 0) };
  }
  return { messages: 0, payloadBytes: 0 };
}

export function recordSqsRequest(stats: SqsRequestStats, action: string, messages: number, payloadBytes: number): void {
  const row = (stats[action] ??= { requests: 0, billedRequests: 0, messages: 0 });
  row.requests += 1;
  row.billedRequests += Math.max(1, Math.ceil(payloadBytes / SQS_CHUNK_BYTES));
  row.messages += messages;
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** Listens on `port` (0: any free port) of `host` and forwards to `target` (http://host:port of ElasticMQ). */
export async function startSqsCounter(target: string, host: string, port = 0): Promise<SqsCounter> {
  const upstream = new URL(target);
  const stats: SqsRequestStats = {};
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req);
      const action = sqsActionOf(req.headers['x-amz-target'] as string | undefined, body.toString('utf8'));
      const forward = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          void readAll(answer).then((responseBody) => {
            const { messages, payloadBytes } = sqsMessagesOf(action, body.toString('utf8'), responseBody.toString('utf8'));
            recordSqsRequest(stats, action, messages, payloadBytes);
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            res.end(responseBody);
          }, () => res.destroy());
        },
      );
      // A long poll the client gave up on (the mapping stopping) ends the forwarded request too.
      res.on('close', () => {
        if (!res.writableFinished) forward.destroy();
      });
      forward.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      forward.end(body);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host}:${bound}`,
    stats,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
