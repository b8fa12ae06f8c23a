// Helpers for the Workers-pool tests: every request goes through the real Worker (SELF), and
// every tenant, provider, model and key is made through the real admin API.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import OpenAI from "openai";
import type { AdminClaims } from "../../schema/admin.ts";
import { signAdminToken } from "../../workers/auth/admin-token.ts";

export const BASE = "http://gateway.test";

export function uid(prefix = "t"): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

export function token(claims: AdminClaims, ttlSeconds = 600, secret = env.ADMIN_JWT_SECRET as string): Promise<string> {
  return signAdminToken(secret, claims, ttlSeconds);
}

export function ownerToken(): Promise<string> {
  return token({ sub: "test-owner", role: "owner" });
}

export interface Answer<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function call<T = any>(
  method: string,
  path: string,
  options: { bearer?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const res = await SELF.fetch(`${BASE}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // leave as text (e.g. an SSE body)
  }
  return { status: res.status, headers: res.headers, body: body as T };
}

export function admin<T = any>(bearer: string, method: string, path: string, body?: unknown): Promise<Answer<T>> {
  return call<T>(method, `/admin${path}`, { bearer, body });
}

export function chat(key: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return call("POST", "/v1/chat/completions", { bearer: key, body, headers });
}

// Models every test tenant gets: each fake upstream behaviour under its own name, plus one
// public name that differs from its upstream id.
export const FAKE_MODELS = [
  "fake-echo",
  "fake-tools",
  "fake-gated",
  "fake-stall",
  "fake-reset",
  "fake-garbage",
  "fake-wrong-shape",
  "fake-status-400",
  "fake-status-401",
  "fake-status-429",
  "fake-status-500",
  "fake-status-503",
] as const;

export interface TestTenant {
  tenantId: string;
  key: string;
  keyId: string;
  providerId: string;
  owner: string;
}

// A fresh tenant with a provider pointing at the fake upstream, its models and an API key.
export async function makeTenant(options: { scopes?: string[] } = {}): Promise<TestTenant> {
  const owner = await ownerToken();
  const tenantId = uid("ten");
  expectStatus(await admin(owner, "POST", "/tenants", { id: tenantId, name: `Tenant ${tenantId}` }), 201);
  const provider = expectStatus(
    await admin(owner, "POST", "/providers", {
      tenant_id: tenantId,
      name: "fake",
      kind: "openai-compatible",
      base_url: `${env.FAKE_UPSTREAM_URL}/v1`,
      credential_ref: "PROVIDER_FAKE_KEY",
    }),
    201,
  );
  const providerId = provider.body.id as string;
  for (const name of FAKE_MODELS) {
    expectStatus(
      await admin(owner, "POST", "/models", { tenant_id: tenantId, public_name: name, provider_id: providerId, upstream_model: name }),
      201,
    );
  }
  expectStatus(
    await admin(owner, "POST", "/models", {
      tenant_id: tenantId,
      public_name: "house-model",
      provider_id: providerId,
      upstream_model: "fake-echo",
      context_window: 8192,
      input_price_per_mtok: 0.5,
      output_price_per_mtok: 1.5,
    }),
    201,
  );
  const key = expectStatus(
    await admin(owner, "POST", "/api-keys", { tenant_id: tenantId, name: "test key", ...(options.scopes ? { scopes: options.scopes } : {}) }),
    201,
  );
  return { tenantId, key: key.body.key as string, keyId: key.body.id as string, providerId, owner };
}

export function expectStatus<T>(answer: Answer<T>, status: number): Answer<T> {
  if (answer.status !== status) {
    throw new Error(`expected HTTP ${status}, got ${answer.status}: ${JSON.stringify(answer.body)}`);
  }
  return answer;
}

export async function recordedUpstreamRequest(requestId: string): Promise<{ authorization: string | null; accept: string | null; body: Record<string, any> }> {
  const res = await fetch(`${env.FAKE_UPSTREAM_URL}/control/requests/${encodeURIComponent(requestId)}`);
  if (res.status !== 200) throw new Error(`the fake upstream recorded no request ${requestId}`);
  return res.json();
}

export const hello = { messages: [{ role: "user", content: "hello" }] };

// The official openai client, its requests going straight into the Worker (SELF).
export function openaiClient(apiKey: string): OpenAI {
  return new OpenAI({ apiKey, baseURL: `${BASE}/v1`, maxRetries: 0, fetch: (url, init) => SELF.fetch(url as string, init as RequestInit) });
}
