// Small HTTP helpers the fakes share (model upstreams and the messaging platforms).
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return typeof value === "string" ? value : null;
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

// Starts a fake on 127.0.0.1 (port 0: any free one) and gives its URL and a close that ends
// stalled answers and open connections. workerd keeps idle connections to a fake and reuses
// them: a server closing one after Node's default 5 s can race a request just sent on it
// ("Network connection lost" under load), so the fake keeps them as long as the client does.
export async function listenFake(server: Server, port: number, stalled: Iterable<ServerResponse> = []): Promise<{ url: string; close: () => Promise<void> }> {
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of stalled) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
