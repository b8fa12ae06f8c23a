// Shared by the observability tests: malformed traceparent values, a direct call of the Worker
// with extra vars (the exporter's endpoint) whose background work is awaited, and the fakes'
// records of what they received.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../workers/index.ts";
import type { Env } from "../../workers/env.ts";
import type { ReceivedSpan } from "../fakes/otlp-receiver.ts";

export const TRACE = "0af7651916cd43dd8448eb211c80319c";
export const PARENT = "b7ad6b7169203331";

// Malformed values a client (or a proxy) might send; each must be refused.
export const MALFORMED: Record<string, string> = {
  "upper-case hex": `00-${TRACE.toUpperCase()}-${PARENT.toUpperCase()}-01`,
  "version 01": `01-${TRACE}-${PARENT}-01`,
  "version ff": `ff-${TRACE}-${PARENT}-01`,
  "all-zero trace id": `00-${"0".repeat(32)}-${PARENT}-01`,
  "all-zero parent id": `00-${TRACE}-${"0".repeat(16)}-01`,
  "extra field": `00-${TRACE}-${PARENT}-01-extra`,
  "short trace id": `00-${TRACE.slice(2)}-${PARENT}-01`,
  "long parent id": `00-${TRACE}-${PARENT}00-01`,
  "non-hex character": `00-${TRACE.slice(0, 31)}g-${PARENT}-01`,
  "one-digit flags": `00-${TRACE}-${PARENT}-1`,
  "two headers joined": `00-${TRACE}-${PARENT}-01, 00-${TRACE}-${PARENT}-01`,
  "underscores": `00_${TRACE}_${PARENT}_01`,
  "empty": "",
};


// One request through the real Worker with `vars` added to its env; returns once the request and
// everything it handed to waitUntil (the trace export) are done.
export async function direct(path: string, init: RequestInit, vars: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`http://gateway.test${path}`, init), { ...(env as unknown as Env), ...vars } as Env, ctx);
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  return { status: res.status, headers: res.headers, text };
}

export async function receivedTrace(traceId: string): Promise<{ exports: number; spans: ReceivedSpan[] }> {
  return (await fetch(`${env.FAKE_UPSTREAM_URL}/control/traces/${traceId}`)).json();
}

export async function upstreamTraceparent(requestId: string): Promise<string | null> {
  const res = await fetch(`${env.FAKE_UPSTREAM_URL}/control/requests/${encodeURIComponent(requestId)}`);
  if (!res.ok) throw new Error(`the fake upstream has no request ${requestId}`);
  return ((await res.json()) as { traceparent?: string | null }).traceparent ?? null;
}

export const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

// The parts of a well-formed traceparent, or a test failure.
export function parts(value: string | null): { traceId: string; spanId: string; flags: string } {
  const m = TRACEPARENT.exec(value ?? "");
  if (!m) throw new Error(`not a traceparent: ${value}`);
  return { traceId: m[1] as string, spanId: m[2] as string, flags: m[3] as string };
}
