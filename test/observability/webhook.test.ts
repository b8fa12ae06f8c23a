// A scheduler job's webhook delivery runs in a shard's alarm, outside any request: it is a trace of
// its own, whose span is the receiver's traceparent parent and reaches the OTLP receiver.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../workers/env.ts";
import { runAction } from "../../workers/scheduler/actions.ts";
import { uid } from "../gateway/helpers.ts";
import { parts, receivedTrace } from "./helpers.ts";

describe("job webhook trace context", () => {
  it("sends a traceparent whose span is the exported scheduler.webhook span", async () => {
    const name = uid("otel-hook");
    const pending: Promise<unknown>[] = [];
    const jobId = uid("job");
    const outcome = await runAction(
      { ...(env as unknown as Env), OTEL_EXPORTER_OTLP_ENDPOINT: env.FAKE_UPSTREAM_URL } as Env,
      { kind: "webhook", url: `${env.FAKE_TELEGRAM_URL}/callbacks/${name}`, secret_ref: "WEBHOOK_TEST_SECRET", body: { n: 1 } },
      {
        jobId,
        tenantId: uid("ten"),
        scheduledAt: Date.now(),
        attempt: 1,
        waitUntil: (p) => pending.push(p),
        signal: AbortSignal.timeout(5_000),
        deadlineAt: Date.now() + 5_000,
      },
    );
    expect(outcome.ok).toBe(true);
    await Promise.all(pending);

    const got = (await (await fetch(`${env.FAKE_TELEGRAM_URL}/control/callbacks/${name}`)).json()) as { traceparent: string | null }[];
    expect(got).toHaveLength(1);
    const sent = parts(got[0]!.traceparent);
    expect(sent.flags).toBe("01");

    const trace = await receivedTrace(sent.traceId);
    expect(trace.exports).toBe(1);
    expect(trace.spans).toHaveLength(1);
    const span = trace.spans[0]!;
    expect(span).toMatchObject({ name: "scheduler.webhook", spanId: sent.spanId, parentSpanId: null, kind: 3 });
    expect(span.attributes).toMatchObject({ "edgeclaw.job_id": jobId, "edgeclaw.attempt": 1 });
  });
});
