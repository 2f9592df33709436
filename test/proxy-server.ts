/** Test helper: a real (tiny) HTTP proxy on loopback, as a corporate network puts in front of trace backends. */
import { request, createServer as createHttpServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

/**
 * A forward and CONNECT proxy that reaches the names `routes` maps (host → loopback port) and nothing
 * else; it logs what it was asked (`seen`) and, for forwarded requests, their Authorization header.
 */
export async function startProxy(routes: Map<string, number>): Promise<{ url: string; seen: string[]; authorizations: (string | undefined)[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const authorizations: (string | undefined)[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createHttpServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    authorizations.push(req.headers.authorization);
    const target = new URL(req.url ?? '/');
    const port = routes.get(target.hostname);
    if (port === undefined) return void res.writeHead(502).end('unknown host');
    const upstream = request({ host: '127.0.0.1', port, method: req.method, path: `${target.pathname}${target.search}`, headers: { ...req.headers, host: target.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    sockets.add(client);
    const [host, port] = (req.url ?? '').split(':');
    const to = routes.get(host ?? '');
    if (to === undefined || port !== '443') return void client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
    const upstream = connect(to, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  server.on('connection', (socket: Socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
