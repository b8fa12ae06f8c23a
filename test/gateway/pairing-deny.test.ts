// POST /admin/pairings/deny (workers/admin/sessions.ts): a pending DM pairing request is deleted,
// with an audit intent and outcome naming the sender only by pseudonym; roles and tenant scope as
// for approve. A denied code can no longer be approved, and the sender's next message asks again
// with a new code (denying does not block: the allowlist policy does).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deliver, dmUpdate, newChatId, newUpdateId, sentTo, setupTelegram, waitFor } from "../channels/helpers.ts";
import { admin, expectStatus, makeTenant, token } from "./helpers.ts";

async function askToPair(s: Awaited<ReturnType<typeof setupTelegram>>, peer: number, already: number): Promise<string> {
  await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), peer, "let me in"));
  const asked = await waitFor(() => sentTo(s.token, peer), (m) => m.length > already);
  const code = /pairing code is ([A-Z0-9]{8})/.exec(asked.at(-1)?.text ?? "")?.[1];
  expect(code).toBeTruthy();
  return code!;
}

describe("POST /admin/pairings/deny", () => {
  it("deletes the pending request with audit rows; the code is dead and the sender's next message gets a new one", async () => {
    const s = await setupTelegram({ agent: { dm_policy: "pairing" } });
    const tenantId = s.tenant.tenantId;
    const peer = newChatId();
    const code = await askToPair(s, peer, 0);
    const listed = expectStatus(await admin(s.tenant.owner, "GET", `/pairings?tenant_id=${tenantId}`), 200).body.data;
    const pending = listed.find((p: any) => p.code === code);
    expect(pending).toMatchObject({ status: "pending", peer_id: String(peer) });

    const tenantAdmin = await token({ sub: "alice", role: "admin", tenant: tenantId });
    const denied = expectStatus(await admin(tenantAdmin, "POST", "/pairings/deny", { code }), 200).body;
    expect(denied).toEqual({ id: pending.id, status: "denied", peer_id: String(peer), denied_at: expect.stringMatching(/^\d{4}-/) });
    expect(expectStatus(await admin(s.tenant.owner, "GET", `/pairings?tenant_id=${tenantId}`), 200).body.data.some((p: any) => p.id === pending.id)).toBe(false);

    // The code is dead for approve and for a second deny.
    expect(expectStatus(await admin(s.tenant.owner, "POST", "/pairings/approve", { tenant_id: tenantId, code }), 404).body.error.code).toBe("not_found");
    expectStatus(await admin(s.tenant.owner, "POST", "/pairings/deny", { tenant_id: tenantId, code }), 404);

    const { results } = await env.DB.prepare("SELECT actor, action, target, metadata FROM audit_log WHERE tenant_id = ? AND action LIKE 'pairing.deny%' ORDER BY id").bind(tenantId).all<Record<string, string>>();
    expect(results.map((r) => [r.actor, r.action, r.target])).toEqual([
      ["admin:alice", "pairing.deny", pending.id],
      ["admin:alice", "pairing.deny.done", pending.id],
    ]);
    const done = JSON.parse(results[1]!.metadata!);
    expect(done).toMatchObject({ agent_id: s.agentId, channel: "telegram", found: true, subject: expect.stringMatching(/^sub_/) });
    expect(JSON.stringify(results)).not.toContain(String(peer));

    // Not blocked: the next message starts a new request with another code.
    const again = await askToPair(s, peer, 1);
    expect(again).not.toBe(code);
    const fresh = expectStatus(await admin(s.tenant.owner, "GET", `/pairings?tenant_id=${tenantId}`), 200).body.data.filter((p: any) => p.peer_id === String(peer));
    expect(fresh).toEqual([expect.objectContaining({ status: "pending", code: again })]);
  });

  it("refuses a viewer, another tenant's admin and a malformed body; an approved request cannot be denied", async () => {
    const s = await setupTelegram({ agent: { dm_policy: "pairing" } });
    const tenantId = s.tenant.tenantId;
    const code = await askToPair(s, newChatId(), 0);
    const viewer = await token({ sub: "vic", role: "viewer", tenant: tenantId });
    expect(expectStatus(await admin(viewer, "POST", "/pairings/deny", { code }), 403).body.error.code).toBe("read_only");
    const other = await makeTenant();
    const otherAdmin = await token({ sub: "mallory", role: "admin", tenant: other.tenantId });
    // Naming the victim tenant is refused; in its own tenant the code matches nothing.
    expectStatus(await admin(otherAdmin, "POST", "/pairings/deny", { tenant_id: tenantId, code }), 403);
    expectStatus(await admin(otherAdmin, "POST", "/pairings/deny", { code }), 404);
    expect(expectStatus(await admin(s.tenant.owner, "POST", "/pairings/deny", { tenant_id: tenantId, code: code.toLowerCase() }), 400).body.error.code).toBe("invalid_value");
    expectStatus(await admin(s.tenant.owner, "POST", "/pairings/deny", { tenant_id: tenantId, code, extra: 1 }), 400);
    // Still pending after all that; approved, it can no longer be denied.
    const still = expectStatus(await admin(s.tenant.owner, "GET", `/pairings?tenant_id=${tenantId}`), 200).body.data;
    expect(still.filter((p: any) => p.status === "pending").map((p: any) => p.code)).toEqual([code]);
    expectStatus(await admin(s.tenant.owner, "POST", "/pairings/approve", { tenant_id: tenantId, code }), 200);
    expectStatus(await admin(s.tenant.owner, "POST", "/pairings/deny", { tenant_id: tenantId, code }), 404);
    const { results } = await env.DB.prepare("SELECT action FROM audit_log WHERE tenant_id = ? AND action LIKE 'pairing.deny%'").bind(tenantId).all();
    expect(results).toEqual([]); // refusals before the lookup write nothing
  });
});
