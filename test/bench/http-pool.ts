// The benchmarks' client for webhook-shaped load: node:http over a keep-alive pool, as a platform
// delivers over connections it keeps open (Telegram keeps up to 40-100 per bot), timed from the
// call to the end of the answer's body. channels.ts and ack-floor.ts measure with it, so their
// figures are comparable.
import http from "node:http";

export interface PooledAnswer {
  status: number;
  text: string;
  ms: number;
}

export function keepAlivePool(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 30_000 });
}

export function pooledRequest(pool: http.Agent, url: string, init: { method: string; headers?: Record<string, string>; body?: string }): Promise<PooledAnswer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const headers = { ...init.headers, ...(init.body !== undefined ? { "content-length": String(Buffer.byteLength(init.body)) } : {}) };
    const req = http.request(url, { method: init.method, headers, agent: pool, timeout: 30_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text, ms: performance.now() - started }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(init.body);
  });
}
