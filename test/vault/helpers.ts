// Helpers for the vault tests: tenants whose providers, channel accounts and jobs reference
// vault secrets, the Worker run under another VAULT_KEYS (a deployment before a rotation, or with
// the secret missing), and scans of everything the gateway stores or logs for a plaintext value.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import worker from "../../workers/index.ts";
import type { Env } from "../../workers/env.ts";
import { admin, BASE, expectStatus, ownerToken, token, uid, type Answer } from "../gateway/helpers.ts";

export interface VaultTenant {
  tenantId: string;
  owner: string;
  // An admin token scoped to this tenant: what a tenant's own operator holds.
  admin: string;
}

export async function vaultTenant(): Promise<VaultTenant> {
  const owner = await ownerToken();
  const tenantId = uid("ten");
  expectStatus(await admin(owner, "POST", "/tenants", { id: tenantId, name: `Vault ${tenantId}` }), 201);
  return { tenantId, owner, admin: await token({ sub: `admin-of-${tenantId}`, role: "admin", tenant: tenantId }) };
}

export function putSecret(t: VaultTenant, name: string, value: string): Promise<Answer> {
  return admin(t.admin, "PUT", `/secrets/${name}`, { value });
}

// A provider at the fake upstream whose credential is `ref`, one model `m` on it, and an API key.
export async function providerWith(t: VaultTenant, ref: string, bearer = t.admin): Promise<{ key: string; providerId: string }> {
  const provider = expectStatus(
    await admin(bearer, "POST", "/providers", { tenant_id: t.tenantId, name: uid("p").toLowerCase(), kind: "openai-compatible", base_url: `${env.FAKE_UPSTREAM_URL}/v1`, credential_ref: ref }),
    201,
  );
  expectStatus(await admin(bearer, "POST", "/models", { tenant_id: t.tenantId, public_name: "m", provider_id: provider.body.id, upstream_model: "fake-echo" }), 201);
  const key = expectStatus(await admin(bearer, "POST", "/api-keys", { tenant_id: t.tenantId, name: "vault test" }), 201);
  return { key: key.body.key as string, providerId: provider.body.id as string };
}

// VAULT_KEYS as the test deployment has it (k2 current, k1 still known), and variants.
export function testKeys(): { current: string; keys: Record<string, string> } {
  return JSON.parse(env.VAULT_KEYS as string);
}

export function keysOnly(current: string, ids: string[]): string {
  const all = testKeys().keys;
  return JSON.stringify({ current, keys: Object.fromEntries(ids.map((id) => [id, all[id]])) });
}

// The Worker's own fetch handler under a different deployment config (its env), through the
// same public HTTP interface as SELF.
export async function fetchWith(overrides: Partial<Record<keyof Env, string | undefined>>, method: string, path: string, options: { bearer?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`${BASE}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) }),
    { ...(env as unknown as Env), ...overrides } as Env,
    ctx,
  );
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body };
}

// Every row of every table in D1, as one string.
export async function dumpD1(): Promise<string> {
  const { results } = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all<{ name: string }>();
  const parts: string[] = [];
  for (const { name } of results) {
    const rows = await env.DB.prepare(`SELECT * FROM "${name}"`).all();
    parts.push(name, JSON.stringify(rows.results));
  }
  return parts.join("\n");
}

// Everything written to the console while `run` runs (the Worker runs in this isolate).
export async function captureConsole<T>(run: () => Promise<T>): Promise<{ result: T; logged: string }> {
  const lines: string[] = [];
  const spies = (["log", "info", "warn", "error", "debug"] as const).map((level) =>
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a) ?? String(a))).join(" "));
    }),
  );
  try {
    const result = await run();
    return { result, logged: lines.join("\n") };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

export function secretValue(label: string): string {
  return `${label}-${crypto.randomUUID()}-${crypto.randomUUID()}`;
}
