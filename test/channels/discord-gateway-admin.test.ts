// The admin side of the Discord Gateway: start/stop/state scoped to the account's tenant (another
// tenant's account is 404, a viewer reads but cannot start), only Discord accounts, audit rows,
// and a revoked account or tenant stopping a running connection.
import { describe, expect, it } from "vitest";
import { admin, expectStatus, ownerToken, token } from "../gateway/helpers.ts";
import { setupChannel, waitFor } from "./helpers.ts";
import { discordMessages } from "./discord-helpers.ts";
import { connectedGateway, gatewayPath, gatewayState, gwStats, messageCreate, pushMessages, setupGateway, stopGateway, waitState, waitStats } from "./discord-gateway-helpers.ts";

describe("discord gateway admin", () => {
  it("is scoped to the account's tenant: a stranger gets 404, a viewer reads but cannot start, the tenant's admin can", async () => {
    const s = await setupGateway();
    const other = await setupGateway();
    const stranger = await token({ sub: "stranger", role: "admin", tenant: other.tenant.tenantId });
    for (const [method, action] of [["POST", "start"], ["POST", "stop"], ["GET", undefined]] as const) {
      const res = await admin(stranger, method, gatewayPath(s, action));
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    }
    const viewer = await token({ sub: "viewer", role: "viewer", tenant: s.tenant.tenantId });
    expect(expectStatus(await admin(viewer, "GET", gatewayPath(s)), 200).body.status).toBe("stopped");
    expect((await admin(viewer, "POST", gatewayPath(s, "start"))).status).toBe(403);
    const tenantAdmin = await token({ sub: "tenant-admin", role: "admin", tenant: s.tenant.tenantId });
    expectStatus(await admin(tenantAdmin, "POST", gatewayPath(s, "start")), 200);
    expect((await waitState(s, (x) => x.status === "connected")).status).toBe("connected");
    // The stranger's own bot never connected.
    expect((await gwStats(other)).sockets).toBe(0);
    expectStatus(await admin(tenantAdmin, "POST", gatewayPath(s, "stop")), 200);
    const audit = expectStatus(await admin(s.tenant.owner, "GET", `/audit?tenant_id=${s.tenant.tenantId}`), 200).body.data;
    const rows = audit.filter((a: any) => a.target === s.accountId && a.action.startsWith("channel_account.gateway_"));
    expect(rows.map((a: any) => [a.action, a.actor]).sort()).toEqual([
      ["channel_account.gateway_start", "admin:tenant-admin"],
      ["channel_account.gateway_stop", "admin:tenant-admin"],
    ]);
  }, 30_000);

  it("refuses other channels (400), unknown accounts (404) and revoked accounts (409)", async () => {
    const web = await setupChannel("webchat");
    const res = await admin(web.tenant.owner, "POST", `/channel-accounts/${web.accountId}/gateway/start`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("not_discord");
    const owner = await ownerToken();
    expect((await admin(owner, "GET", "/channel-accounts/chn_nope/gateway")).status).toBe(404);
    expect((await admin(owner, "POST", `/channel-accounts/${"x".repeat(300)}/gateway/start`)).status).toBe(404);
    const s = await setupGateway();
    expectStatus(await admin(s.tenant.owner, "POST", `/channel-accounts/${s.accountId}/revoke`), 200);
    const revoked = await admin(s.tenant.owner, "POST", gatewayPath(s, "start"));
    expect(revoked.status).toBe(409);
    expect(revoked.body.error.code).toBe("account_revoked");
    expect((await gwStats(s)).sockets).toBe(0);
  }, 30_000);

  it("revoking the account closes its running connection at once; nothing is answered", async () => {
    const s = await connectedGateway();
    expectStatus(await admin(s.tenant.owner, "POST", `/channel-accounts/${s.accountId}/revoke`), 200);
    // No event and no watchdog tick needed: the revocation itself stopped it.
    const state = expectStatus(await admin(s.tenant.owner, "GET", gatewayPath(s)), 200).body;
    expect(state).toMatchObject({ status: "stopped", desired: "stopped" });
    await waitStats(s, (x) => x.open === 0);
    const m = messageCreate("anyone there?");
    await pushMessages(s, [m]);
    await new Promise((r) => setTimeout(r, 500));
    expect(await discordMessages(s.botToken, m.channel_id)).toEqual([]);
  }, 30_000);

  it("a revoked tenant stops its running connection at the next event; nothing is answered", async () => {
    const s = await connectedGateway();
    expectStatus(await admin(await ownerToken(), "POST", `/tenants/${s.tenant.tenantId}/revoke`), 200);
    const m = messageCreate("anyone there?");
    await pushMessages(s, [m]);
    const state = await waitFor(() => admin(s.tenant.owner, "GET", gatewayPath(s)), (x) => x.body.status === "stopped");
    expect(state.body.last_error).toContain("tenant is revoked");
    await waitStats(s, (x) => x.open === 0);
    expect(await discordMessages(s.botToken, m.channel_id)).toEqual([]);
    // Stopping a stopped connection is fine, and says so.
    expect((await stopGateway(s)).status).toBe("stopped");
    expect((await gatewayState(s)).status).toBe("stopped");
  }, 30_000);
});
