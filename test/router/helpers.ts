// Helpers for the router tests: a tenant with the fake upstream as an OpenAI-compatible provider
// ("fake") and as an Anthropic one ("claude"), its router config set through the admin API, and
// the fake's scripted scenarios (behaviour per scenario id, call counts per replica).
import { env } from "cloudflare:workers";
import { admin, expectStatus, makeTenant, uid, type Answer, type TestTenant } from "../gateway/helpers.ts";
import type { Scenario } from "../fakes/openai-upstream.ts";

export interface RouterTenant extends TestTenant {
  claudeId: string;
}

export async function makeRouterTenant(): Promise<RouterTenant> {
  const t = await makeTenant();
  const claude = expectStatus(
    await admin(t.owner, "POST", "/providers", {
      tenant_id: t.tenantId,
      name: "claude",
      kind: "anthropic",
      base_url: `${env.FAKE_UPSTREAM_URL}/v1`,
      credential_ref: "PROVIDER_FAKE_KEY",
    }),
    201,
  );
  return { ...t, claudeId: claude.body.id as string };
}

export function putConfig(t: TestTenant, config: unknown, comment?: string): Promise<Answer> {
  return admin(t.owner, "PUT", "/router-config", { tenant_id: t.tenantId, config, ...(comment ? { comment } : {}) });
}

export async function setConfig(t: TestTenant, config: unknown): Promise<number> {
  return expectStatus(await putConfig(t, config), 201).body.version as number;
}

export async function scenario(behaviour: Scenario, id = uid("scn")): Promise<string> {
  const res = await fetch(`${env.FAKE_UPSTREAM_URL}/control/scenario/${id}`, { method: "POST", body: JSON.stringify(behaviour) });
  if (res.status !== 200) throw new Error("the fake refused the scenario");
  return id;
}

export async function calls(id: string): Promise<{ total: number; replicas: Record<string, number> }> {
  return (await fetch(`${env.FAKE_UPSTREAM_URL}/control/scenario/${id}`)).json();
}

export const target = (model: string, extra: Record<string, unknown> = {}) => ({ type: "target", provider: "fake", model, ...extra });

export const replicaUrl = (name: string) => `${env.FAKE_UPSTREAM_URL}/r/${name}/v1`;

// Replicas are declared on the provider (owner, since "fake" carries a deployment credential).
export async function declareReplicas(t: TestTenant, replicas: { id: string; base_url: string; metrics_url?: string }[] | null, providerId = t.providerId): Promise<Answer> {
  return expectStatus(await admin(t.owner, "PATCH", `/providers/${providerId}`, { replicas }), 200);
}

export const ask = (text = "hello") => ({ messages: [{ role: "user", content: text }] });
