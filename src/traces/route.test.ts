import { describe, expect, it } from 'vitest';
import { SpanKind, type SpanRecord } from '../otlp/span.js';
import { assembleTrace, collapseIds, endpointOf } from './assemble.js';
import { assembleCompact, CompactTrace } from './compact.js';

const T = 'b'.repeat(32);
let next = 0;
const span = (over: Partial<SpanRecord>): SpanRecord => ({
  traceId: T, spanId: (++next).toString(16).padStart(16, '0'), parentSpanId: '', name: 'x', kind: SpanKind.INTERNAL, startMs: 0, endMs: 1, service: 's', ...over,
});
const compact = (spans: SpanRecord[]): CompactTrace => {
  const t = new CompactTrace();
  for (const s of spans) t.add(s);
  return t;
};

/** opentelemetry-instrumentation-asgi around Django: SERVER span with the path, Django's INTERNAL span with the route. */
function asgiTrace(path: string): SpanRecord[] {
  const server = span({ name: `GET ${path}`, kind: SpanKind.SERVER, httpMethod: 'GET', httpTarget: path, startMs: 0, endMs: 50 });
  const receive = span({ parentSpanId: server.spanId, name: `GET ${path} http receive`, startMs: 1, endMs: 2 });
  const django = span({ parentSpanId: server.spanId, name: 'GET books/<int:pk>/', httpMethod: 'GET', httpRoute: 'books/<int:pk>/', startMs: 2, endMs: 45 });
  const db = span({ parentSpanId: django.spanId, kind: SpanKind.CLIENT, dbSystem: 'sqlite', dbStatement: 'SELECT 1', startMs: 3, endMs: 4 });
  return [db, django, receive, server];
}

describe('the route where it is', () => {
  it("takes http.route from Django's span below a middleware's route-less SERVER span", () => {
    const spans = asgiTrace('/books/17/');
    const [request] = assembleTrace(spans);
    expect(request?.endpoint).toBe('GET books/<int:pk>/');
    expect(request?.dbSpans).toHaveLength(1);
    expect(assembleCompact(compact(spans))).toEqual(assembleTrace(spans));
    expect(assembleCompact(compact([...spans].reverse()))).toEqual(assembleTrace([...spans].reverse()));
  });

  it("never takes a route from another request's span", () => {
    const outer = span({ name: 'GET /a/1/', kind: SpanKind.SERVER, httpMethod: 'GET', httpTarget: '/a/1/' });
    const task = span({ parentSpanId: outer.spanId, name: 'run/t', kind: SpanKind.CONSUMER });
    const inner = span({ parentSpanId: task.spanId, httpRoute: 'inner/', httpMethod: 'GET' });
    const requests = assembleTrace([outer, task, inner]);
    expect(requests.map((r) => r.endpoint).sort()).toEqual(['GET /a/{id}/', 'run/t']);
  });

  it('keys a route-less server on its path with numeric, uuid and hex ids collapsed, never on the raw path', () => {
    expect(collapseIds('/api/books/12/reviews/')).toBe('/api/books/{id}/reviews/');
    expect(collapseIds('/s/6f1c2a9e-4b7d-4c1e-9a55-0b3e2f1d7c88/x/5f2b9c1a0e/')).toBe('/s/{id}/x/{id}/');
    expect(collapseIds('/blog/added/facade/2024-review/')).toBe('/blog/added/facade/2024-review/');
    const server = { ...span({ kind: SpanKind.SERVER, httpMethod: 'GET' }), name: 'GET /books/9/' };
    expect(endpointOf({ ...server, httpTarget: '/books/9/?page=2' })).toBe('GET /books/{id}/');
    expect(endpointOf(server)).toBe('GET /books/{id}/');
    expect(endpointOf({ ...server, httpRoute: 'books/<int:pk>/' })).toBe('GET books/<int:pk>/');
    expect(endpointOf({ ...span({ kind: SpanKind.CONSUMER }), name: 'run/tasks.send 12' })).toBe('run/tasks.send 12');
  });
});
