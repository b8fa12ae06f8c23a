// A tarpit: an HTTP server that accepts every connection, reads the request and never answers.
// It stands in for the slow or hanging endpoint a tenant points a job at (a webhook URL, or a
// provider base URL for a heartbeat's model call), so tests can show that such a job holds up
// nothing but itself. Requests are recorded (path, idempotency key, request id, arrival time)
// and listed, with how many are still held open, at GET /control/requests; only /control/*
// answers.
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface TarpitRequest {
  method: string;
  path: string;
  idempotency_key: string | null;
  request_id: string | null;
  at: number;
}

export interface Tarpit {
  url: string;
  close(): Promise<void>;
}

export async function startTarpit(): Promise<Tarpit> {
  const recorded: TarpitRequest[] = [];
  const held = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://tarpit");
    if (url.pathname === "/control/requests") {
      // ?prefix= narrows the list to paths that start with it (one test's own requests).
      const prefix = url.searchParams.get("prefix") ?? "";
      const mine = recorded.filter((r) => r.path.startsWith(prefix));
      const open = [...held].filter((r) => ((r as ServerResponse & { path?: string }).path ?? "").startsWith(prefix)).length;
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ requests: mine, open }));
    }
    const header = (name: string) => {
      const v = req.headers[name];
      return typeof v === "string" ? v : null;
    };
    recorded.push({ method: req.method ?? "", path: url.pathname, idempotency_key: header("idempotency-key"), request_id: header("x-request-id"), at: Date.now() });
    // Read the body so the client's send completes, then hold the response forever (until the
    // client gives up and closes the connection).
    req.resume();
    (res as ServerResponse & { path?: string }).path = url.pathname;
    held.add(res);
    res.on("close", () => held.delete(res));
  });
  // Never time a held request out on this side: the client's deadline is what is under test.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
