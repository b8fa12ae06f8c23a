// Issue 10, item 8 (router side): provider base URLs, replica base URLs and metrics URLs pass
// the outbound-URL policy when written (400 url_not_allowed naming the field) and again right
// before each fetch (502 upstream_url_not_allowed, no request made), so a row written straight
// into D1 cannot reach loopback, private, link-local or metadata addresses either. The test
// deployment opts exactly 127.0.0.1 in (OUTBOUND_ALLOW_HOSTS), for the local fakes.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../../workers/env.ts";
import { checkOutboundUrl } from "../../workers/security/outbound-url.ts";
import { admin, chat, makeTenant, uid, type TestTenant } from "../gateway/helpers.ts";
import { ask, replicaUrl } from "./helpers.ts";

const fakePort = new URL(env.FAKE_UPSTREAM_URL as string).port;

// Refused by the policy in this deployment. (http://2130706433/ is 127.0.0.1 once parsed, which
// this deployment opts in; the unit tests below refuse it where nothing is opted in.)
const REFUSED = [
  "https://169.254.169.254/v1",
  "https://10.0.0.1/v1",
  "https://127.0.0.2/v1",
  "https://[::1]/v1",
  "https://[::ffff:127.0.0.1]/v1",
  "https://localhost/v1",
  "http://example.com/v1",
  `http://localhost:${fakePort}/v1`,
];

describe("outbound-URL policy on admin writes", () => {
  let t: TestTenant;
  beforeAll(async () => {
    t = await makeTenant();
  });

  it("refuses each refused URL as a provider base_url with 400 url_not_allowed", async () => {
    for (const [i, url] of REFUSED.entries()) {
      const res = await admin(t.owner, "POST", "/providers", { tenant_id: t.tenantId, name: `bad-${i}`, kind: "openai-compatible", base_url: url, credential_ref: "PROVIDER_FAKE_KEY" });
      expect(res.status, url).toBe(400);
      expect(res.body.error.code, url).toBe("url_not_allowed");
      expect(res.body.error.message, url).toContain("base_url:");
    }
  });

  it("refuses each as a replica base_url and as a metrics_url, at creation and on PATCH", async () => {
    for (const url of REFUSED) {
      const created = await admin(t.owner, "POST", "/providers", {
        tenant_id: t.tenantId,
        name: uid("rep").toLowerCase(),
        kind: "openai-compatible",
        base_url: `${env.FAKE_UPSTREAM_URL}/v1`,
        replicas: [{ id: "ok", base_url: replicaUrl("ok") }, { id: "bad", base_url: url }],
      });
      expect(created.status, url).toBe(400);
      expect(created.body.error.message, url).toContain("replicas[1].base_url:");
      const patched = await admin(t.owner, "PATCH", `/providers/${t.providerId}`, { replicas: [{ id: "m", base_url: replicaUrl("m"), metrics_url: url }] });
      expect(patched.status, url).toBe(400);
      expect(patched.body.error.code, url).toBe("url_not_allowed");
      expect(patched.body.error.message, url).toContain("replicas[0].metrics_url:");
    }
  });
});

describe("outbound-URL policy at the point of use", () => {
  it("refuses a provider row forged in D1 with 502 upstream_url_not_allowed and makes no request", async () => {
    const t = await makeTenant();
    // Rows written straight into D1, before this isolate ever loaded the tenant's routing.
    const now = Date.now();
    await env.DB.batch(
      REFUSED.flatMap((url, i) => [
        env.DB.prepare("INSERT INTO providers (id, tenant_id, name, kind, base_url, credential_ref, created_at) VALUES (?1, ?2, ?3, 'openai-compatible', ?4, 'PROVIDER_FAKE_KEY', ?5)").bind(`prv-forged-${t.tenantId}-${i}`, t.tenantId, `forged-${i}`, url, now),
        env.DB.prepare("INSERT INTO models (id, tenant_id, public_name, provider_id, upstream_model, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'fake-echo', ?5, ?5)").bind(`mdl-forged-${t.tenantId}-${i}`, t.tenantId, `forged-${i}`, `prv-forged-${t.tenantId}-${i}`, now),
      ]),
    );
    for (const [i, url] of REFUSED.entries()) {
      const requestId = uid("ssrf");
      const res = await chat(t.key, { model: `forged-${i}`, ...ask() }, { "x-request-id": requestId });
      expect(res.status, url).toBe(502);
      expect(res.body.error.code, url).toBe("upstream_url_not_allowed");
      expect(res.headers.get("x-edgeclaw-attempts"), url).toBe("0");
      // localhost:<fake port> would have reached the fake upstream: it recorded nothing.
      expect((await fetch(`${env.FAKE_UPSTREAM_URL}/control/requests/${requestId}`)).status, url).toBe(404);
    }
    // The same request on an allowed provider is recorded (the check above is not vacuous).
    const control = uid("ssrf-control");
    expect((await chat(t.key, { model: "fake-echo", ...ask() }, { "x-request-id": control })).status).toBe(200);
    expect((await fetch(`${env.FAKE_UPSTREAM_URL}/control/requests/${control}`)).status).toBe(200);
  });

  it("never polls a forged metrics_url the policy refuses; polls an allowed one", async () => {
    const t = await makeTenant();
    const good = uid("mok");
    const bad = uid("mbad");
    const replicas = [
      { id: good, base_url: replicaUrl(good), metrics_url: `${env.FAKE_UPSTREAM_URL}/r/${good}/metrics` },
      { id: bad, base_url: replicaUrl(bad), metrics_url: `http://localhost:${fakePort}/r/${bad}/metrics` },
    ];
    await env.DB.prepare("UPDATE providers SET replicas = ?1 WHERE id = ?2").bind(JSON.stringify(replicas), t.providerId).run();
    const hits = async (r: string) => ((await (await fetch(`${env.FAKE_UPSTREAM_URL}/control/metrics-hits/${r}`)).json()) as { hits: number }).hits;
    // Sessionless requests spread over both replicas; each placement polls that replica's metrics.
    for (let i = 0; i < 40 && (await hits(good)) === 0; i++) {
      expect((await chat(t.key, { model: "fake-echo", ...ask() })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await hits(good)).toBeGreaterThan(0);
    expect(await hits(bad)).toBe(0);
  });
});

describe("checkOutboundUrl", () => {
  const none = { OUTBOUND_ALLOW_HOSTS: undefined } as unknown as Env;
  const local = { OUTBOUND_ALLOW_HOSTS: "127.0.0.1" } as unknown as Env;
  const refused = (e: Env, url: string) => !checkOutboundUrl(e, url).ok;

  it("refuses loopback, private, link-local, CGNAT, metadata, multicast and reserved IPv4, in every spelling", () => {
    for (const url of [
      "https://0.0.0.0/",
      "https://127.0.0.1/",
      "https://127.0.0.2/",
      "https://10.0.0.1/",
      "https://10.255.255.255/",
      "https://100.64.0.1/",
      "https://169.254.169.254/latest/meta-data",
      "https://172.16.0.1/",
      "https://172.31.255.255/",
      "https://192.168.1.1/",
      "https://192.0.0.1/",
      "https://192.0.2.1/",
      "https://198.18.0.1/",
      "https://224.0.0.1/",
      "https://255.255.255.255/",
      "http://2130706433/",
      "https://2130706433/",
      "https://0x7f.0.0.1/",
      "https://0177.0.0.1/",
      "https://127.1/",
    ]) expect(refused(none, url), url).toBe(true);
  });

  it("refuses IPv6 loopback, unspecified, unique-local, link-local, multicast, documentation, mapped and NAT64 forms", () => {
    for (const url of [
      "https://[::1]/",
      "https://[::]/",
      "https://[fc00::1]/",
      "https://[fd12:3456::1]/",
      "https://[fe80::1]/",
      "https://[ff02::1]/",
      "https://[2001:db8::1]/",
      "https://[::ffff:127.0.0.1]/",
      "https://[::ffff:169.254.169.254]/",
      "https://[::ffff:10.0.0.1]/",
      "https://[64:ff9b::a9fe:a9fe]/",
    ]) expect(refused(none, url), url).toBe(true);
  });

  it("refuses local names, plain http, and credentials in the URL", () => {
    for (const url of ["https://localhost/", "https://api.localhost/", "https://printer.local/", "https://db.internal/", "https://metadata/", "https://intranet/", "http://example.com/", "https://user:pw@example.com/", "ftp://example.com/"]) {
      expect(refused(none, url), url).toBe(true);
    }
  });

  it("allows public https hosts and addresses", () => {
    for (const url of ["https://api.openai.com/v1", "https://8.8.8.8/", "https://172.32.0.1/", "https://100.128.0.1/", "https://192.0.78.9/", "https://[2606:4700:4700::1111]/"]) {
      expect(checkOutboundUrl(none, url).ok, url).toBe(true);
    }
  });

  it("lets exactly the opted-in host through over http, and nothing else private", () => {
    expect(checkOutboundUrl(local, "http://127.0.0.1:8788/v1").ok).toBe(true);
    expect(refused(local, "http://127.0.0.2:8788/v1")).toBe(true);
    expect(refused(local, "http://localhost:8788/v1")).toBe(true);
    expect(refused(local, "https://[::1]/")).toBe(true);
    expect(refused(local, "https://169.254.169.254/")).toBe(true);
  });
});
