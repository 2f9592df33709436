/** Test helpers: a real HTTP server on 127.0.0.1 standing in for Slack's incoming webhook, recording each payload; a message's text. */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SlackMessage } from './blocks.js';

/** A message's section and context texts in order (fields after their section's text): the summary is the first. */
export const sections = (m: SlackMessage): string[] =>
  m.blocks.flatMap((b) => (b.type === 'section' ? [b.text?.text ?? '', ...(b.fields ?? []).map((f) => f.text)] : b.type === 'context' ? b.elements.map((e) => e.text) : []));

/** One scripted answer: status, body (Slack answers `ok` or an error token) and headers. */
export interface FakeAnswer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

export interface FakeSlack {
  /** A webhook URL with a secret-looking path, so tests can check it never leaks. */
  url: string;
  /** The path's secret part. */
  secret: string;
  /** Every request, in order, with its parsed JSON body. */
  requests: { method: string; headers: IncomingHttpHeaders; body: unknown }[];
  close(): Promise<void>;
}

/**
 * Starts the fake. Answers are used in order; once they run out, the last one repeats (so
 * `[{ status: 429 }]` rate-limits forever). No answers means `200 ok`.
 */
export async function fakeSlack(answers: FakeAnswer[] = []): Promise<FakeSlack> {
  const secret = 'XXXXsecretXXXXtokenXXXX';
  const requests: FakeSlack['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Kept as text: a test may want to see what was not JSON.
      }
      requests.push({ method: req.method ?? '', headers: req.headers, body });
      const answer = answers[Math.min(requests.length - 1, answers.length - 1)] ?? { status: 200, body: 'ok' };
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
      res.end(answer.body ?? (answer.status === 200 ? 'ok' : ''));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/services/T0001/B0001/${secret}`,
    secret,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
