// Per request: continue the caller's W3C trace (or start one), run the request under the
// gateway's server span (everything below it opens child spans: auth, route, upstream attempts,
// stream relay), answer with the gateway span's `traceparent`, and once the request is complete
// (for a stream: when the relay ends) write one JSON log line and export the trace. Neither the log
// line nor the export is awaited by the response: for an answer that is complete when the handler
// returns, they run just after it is handed to the runtime (http/after-response.ts).
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../env.ts";
import { afterResponse } from "../http/after-response.ts";
import { requestLogLine } from "./log.ts";
import { exportTarget, exportTrace } from "./otlp.ts";
import { runInSpan, Trace } from "./trace.ts";
import { parseTraceparent } from "./traceparent.ts";

export function tracing(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const parent = parseTraceparent(c.req.header("traceparent"));
    const trace = new Trace(parent, exportTarget(c.env) !== null);
    const root = trace.start("gateway.request", "server", parent?.parentId ?? null, {
      "http.request.method": c.req.method,
      "url.path": c.req.path.slice(0, 256),
      "edgeclaw.request_id": c.get("requestId"),
    });
    c.set("trace", root);
    await runInSpan(root, next);
    const status = c.res.status;
    c.res.headers.set("traceparent", root.traceparent());
    const route = routePath(c, -1) || "unmatched";
    const tenant = c.get("principal")?.tenantId ?? null;
    root.set("http.route", route).set("http.response.status_code", status).set("edgeclaw.tenant_id", tenant);
    if (status >= 500) root.fail(`HTTP ${status}`);
    const waitUntil = (p: Promise<unknown>) => {
      try {
        c.executionCtx.waitUntil(p);
      } catch {
        void p.catch(() => {});
      }
    };
    const finish = (endedAt: number) => {
      console.log(
        requestLogLine({
          requestId: c.get("requestId"),
          traceId: trace.traceId,
          spanId: root.spanId,
          tenantId: tenant,
          method: c.req.method,
          route,
          status,
          latencyMs: endedAt - root.startMs,
          tokens: trace.tokens,
          stream: trace.stream,
        }),
      );
      exportTrace(c.env, trace, waitUntil);
    };
    // The root span is still open: anything else open is a stream relay that outlives the handler.
    if (trace.openSpans <= 1) {
      root.end();
      const endedAt = Date.now();
      afterResponse(waitUntil, () => finish(endedAt));
    } else {
      waitUntil(
        trace.whenOpenAtMost(1).then(() => {
          root.end();
          finish(Date.now());
        }),
      );
    }
  };
}
