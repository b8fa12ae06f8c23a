// x-edgeclaw-overhead-ms: the time a request spent in the gateway itself, i.e. the wall time
// until the handler returned its Response minus the time spent waiting on upstreams. For a
// stream this is measured up to the response headers: what follows is the upstream's pace.
// (On Cloudflare the clock only advances across I/O, so pure CPU work reads as 0 there; D1
// waits on a cache miss are what this header makes visible.)
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";

export class GatewayTiming {
  private readonly startedAt = performance.now();
  private upstreamMs = 0;

  // Runs `work` (an upstream call) and books its duration as upstream wait, not overhead.
  async upstream<T>(work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.upstreamMs += performance.now() - started;
    }
  }

  overheadMs(): number {
    return Math.max(0, performance.now() - this.startedAt - this.upstreamMs);
  }
}

export function timing(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const t = new GatewayTiming();
    c.set("timing", t);
    await next();
    c.res.headers.set("x-edgeclaw-overhead-ms", t.overheadMs().toFixed(2));
  };
}
