// An agent turn, run by the session Durable Object's alarm after a real Telegram webhook delivery
// (the fake platform and the fake upstream): it is a trace of its own (agent.turn > agent.model_call
// > limits, route > upstream attempt, stream relay) exported to the OTLP receiver, writes one JSON
// log line that names the session by a pseudonym (never its key, nor the peer), and its usage
// event carries the channel and the turn's trace.
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ReceivedSpan } from "../fakes/otlp-receiver.ts";
import { deliver, dmUpdate, newChatId, newUpdateId, sentTo, sessionKeyFor, setupTelegram, waitFor, type TelegramSetup } from "../channels/helpers.ts";
import type { Env } from "../../workers/env.ts";
import { receivedTrace } from "./helpers.ts";

let s: TelegramSetup;
const mutable = env as unknown as Record<string, string | undefined>;

beforeAll(async () => {
  // The session object reads the exporter's endpoint from the Worker's env, which this test file's
  // isolate shares with the objects it runs.
  mutable.OTEL_EXPORTER_OTLP_ENDPOINT = env.FAKE_UPSTREAM_URL;
  s = await setupTelegram({ ownToken: true });
});

afterAll(() => {
  delete mutable.OTEL_EXPORTER_OTLP_ENDPOINT;
});

function one(spans: ReceivedSpan[], name: string): ReceivedSpan {
  const found = spans.filter((x) => x.name === name);
  expect(found, `exactly one ${name} span`).toHaveLength(1);
  return found[0] as ReceivedSpan;
}

function turnLines(log: ReturnType<typeof vi.spyOn>): Record<string, unknown>[] {
  return log.mock.calls
    .map((c: unknown[]) => c[0])
    .filter((l: unknown): l is string => typeof l === "string" && l.startsWith('{"msg":"turn"'))
    .map((l: string) => JSON.parse(l) as Record<string, unknown>);
}

describe("agent turn trace and log line", () => {
  it("one trace per turn with the model call's spans, one log line, and the channel on the usage event", async () => {
    const log = vi.spyOn(console, "log");
    const chat = newChatId();
    const delivered = await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "trace my turn"));
    expect(delivered.status).toBe(200);
    const sent = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1);
    expect(sent).toHaveLength(1);

    const lines = await waitFor(async () => turnLines(log), (l) => l.length >= 1);
    log.mockRestore();
    expect(lines).toHaveLength(1);
    const line = lines[0] as Record<string, unknown>;
    expect(line).toMatchObject({ msg: "turn", tenant_id: s.tenant.tenantId, agent_id: s.agentId, channel: "telegram", status: "answered", messages: 1, attempt: 1 });
    expect(line.turn_id).toMatch(/^turn-[0-9a-f-]{36}$/);
    expect(line.session).toMatch(/^ses_[0-9a-f]{16}$/);
    expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(line.tokens_in).toBe(11);
    expect(line.tokens_out).toBe(3);
    expect(line.latency_ms).toBeTypeOf("number");
    const text = JSON.stringify(line);
    expect(text).not.toContain(sessionKeyFor(s, chat));
    expect(text).not.toContain(String(chat));
    expect(text).not.toContain("trace my turn");

    const traceId = line.trace_id as string;
    const trace = await waitFor(() => receivedTrace(traceId), (t) => t.exports >= 1);
    expect(trace.exports).toBe(1);
    const spans = trace.spans;
    const turn = one(spans, "agent.turn");
    const call = one(spans, "agent.model_call");
    const limits = one(spans, "gateway.limits");
    const route = one(spans, "gateway.route");
    const attempt = one(spans, "gateway.upstream");
    const relay = one(spans, "gateway.stream_relay");
    expect(turn).toMatchObject({ parentSpanId: null, kind: 5, spanId: line.span_id });
    expect(turn.attributes).toMatchObject({
      "edgeclaw.turn_id": line.turn_id,
      "edgeclaw.tenant_id": s.tenant.tenantId,
      "edgeclaw.agent_id": s.agentId,
      "edgeclaw.channel": "telegram",
      "edgeclaw.turn.messages": 1,
      "edgeclaw.turn.attempt": 1,
      "edgeclaw.turn.status": "answered",
    });
    expect(call.parentSpanId).toBe(turn.spanId);
    expect(call.attributes).toMatchObject({ "edgeclaw.usage_route": "agent_turn", "edgeclaw.channel": "telegram", "edgeclaw.request_id": line.turn_id, "gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 3 });
    expect(limits.parentSpanId).toBe(call.spanId);
    expect(route.parentSpanId).toBe(call.spanId);
    expect(attempt.parentSpanId).toBe(route.spanId);
    expect(relay.parentSpanId).toBe(call.spanId);
    expect(JSON.stringify(spans)).not.toContain(`dm:${chat}`);

    // The usage event of the turn's model call: its channel and its trace.
    const row = await waitFor(
      () => env.DB.prepare("SELECT channel, trace_id, route FROM usage_events WHERE request_id = ?").bind(line.turn_id).first<{ channel: string; trace_id: string; route: string }>(),
      (r) => r !== null,
    );
    expect(row).toEqual({ channel: "telegram", trace_id: traceId, route: "agent_turn" });
  });
});

describe("an agent call outside a turn (a heartbeat)", () => {
  it("is the root of its own trace, and its usage event gets the channel from the session key", async () => {
    const { callModel } = await import("../../workers/agents/model-call.ts");
    const pending: Promise<unknown>[] = [];
    const requestId = `sched:${crypto.randomUUID()}:1`;
    const reply = await callModel(env as unknown as Env, {
      tenantId: s.tenant.tenantId,
      agentId: s.agentId,
      model: "fake-echo",
      messages: [{ role: "user", content: "anything to report?" }],
      maxTokens: 8,
      requestId,
      sessionKey: sessionKeyFor(s, newChatId()),
      waitUntil: (p) => pending.push(p),
      usageRoute: "heartbeat",
    });
    expect(reply.usage).toEqual({ promptTokens: 11, completionTokens: 3 });
    await Promise.all(pending);
    const row = await waitFor(
      () => env.DB.prepare("SELECT channel, trace_id, route FROM usage_events WHERE request_id = ?").bind(requestId).first<{ channel: string; trace_id: string; route: string }>(),
      (r) => r !== null,
    );
    expect(row).toMatchObject({ channel: "telegram", route: "heartbeat" });
    const trace = await waitFor(() => receivedTrace(row!.trace_id), (t) => t.exports >= 1);
    expect(trace.exports).toBe(1);
    const call = one(trace.spans, "agent.model_call");
    expect(call).toMatchObject({ parentSpanId: null, kind: 1 });
    expect(call.attributes).toMatchObject({ "edgeclaw.usage_route": "heartbeat", "edgeclaw.channel": "telegram", "edgeclaw.request_id": requestId });
    for (const name of ["gateway.limits", "gateway.route", "gateway.stream_relay"]) expect(one(trace.spans, name).parentSpanId).toBe(call.spanId);
  });
});

describe("the channel of an agent call without one", () => {
  it("is read from the session key (heartbeats name only the session), or null for no known channel", async () => {
    const { channelOfSessionKey } = await import("../../workers/agents/config.ts");
    expect(channelOfSessionKey("ten-1/agt_1/telegram/chn_1/dm:42")).toBe("telegram");
    expect(channelOfSessionKey("ten-1/agt_1/webchat/chn_1/group:g/thread:t")).toBe("webchat");
    expect(channelOfSessionKey("ten-1/agt_1/carrier-pigeon/chn_1/dm:42")).toBeNull();
    expect(channelOfSessionKey("not-a-session-key")).toBeNull();
  });
});
