// Job webhook URLs go through the outbound-URL policy (issue 10, item 8): at create (400
// url_not_allowed naming the field, nothing created) and again at fire time for a row that got
// past the API some other way (the run dies at once with the policy's reason; nothing is fetched).
// Only 127.0.0.1 is opted in for the tests' local fakes (OUTBOUND_ALLOW_HOSTS in vitest.config.ts).
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { waitFor } from "../channels/helpers.ts";
import { admin, expectStatus, ownerToken } from "../gateway/helpers.ts";
import { allRuns, liveTenant, newJob, testShard } from "./helpers.ts";

const REFUSED = [
  "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
  "https://169.254.169.254/latest/meta-data/",
  "https://10.0.0.7/hook",
  "https://192.168.1.1/hook",
  "https://[::1]/hook",
  "https://[::ffff:127.0.0.2]/hook",
  "https://localhost/hook",
  "https://metadata.google.internal/computeMetadata/v1/",
  "http://hooks.example.com/plain-http",
  "https://user:pass@hooks.example.com/creds",
];

const webhook = (url: string) => ({ schedule: { kind: "once", delay_ms: 3_600_000 }, action: { kind: "webhook", url, secret_ref: "WEBHOOK_TEST_SECRET" } });

describe("job webhook URLs", () => {
  it("are refused at create when private, loopback, link-local, metadata, local names or plain http", async () => {
    // The owner token (a tenant's own token may not name the deployment's WEBHOOK_* secrets).
    const owner = await ownerToken();
    const tenant = await liveTenant(owner);
    for (const url of REFUSED) {
      const res = await admin(owner, "POST", "/jobs", { ...webhook(url), tenant_id: tenant });
      expect(res.status, url).toBe(400);
      expect(res.body.error.code).toBe("url_not_allowed");
      expect(res.body.error.message).toMatch(/^action\.url: /);
    }
    const bulk = await admin(owner, "POST", "/jobs/bulk", { tenant_id: tenant, jobs: [webhook("https://hooks.example.com/ok"), webhook("http://169.254.169.254/")] });
    expect(bulk.status).toBe(400);
    expect(bulk.body.error.code).toBe("url_not_allowed");
    expect(bulk.body.error.message).toMatch(/^jobs\[1\]\.action\.url: /);
    // Nothing was created by the refused calls; a public https URL is accepted.
    expect((await admin(owner, "GET", `/jobs?tenant_id=${tenant}`)).body.data).toEqual([]);
    const ok = expectStatus(await admin(owner, "POST", "/jobs", { ...webhook("https://hooks.example.com/ok"), tenant_id: tenant }), 201).body;
    expectStatus(await admin(owner, "DELETE", `/jobs/${ok.id}`), 200);
  });

  it("are checked again at fire time: a stored private URL fails at once, unfetched, beside a delivered one", async () => {
    const tenant = await liveTenant(await ownerToken());
    const tag = crypto.randomUUID();
    const port = new URL(env.FAKE_TELEGRAM_URL).port;
    // The same fake receiver, once under the opted-in 127.0.0.1 and once under `localhost`
    // (which the policy refuses), written straight to the shard as if the API had been bypassed.
    const allowed = newJob(tenant, { ...webhook(`${env.FAKE_TELEGRAM_URL}/callbacks/${tag}-ok`), schedule: { kind: "once", delay_ms: 0 } });
    const refused = newJob(tenant, { ...webhook(`http://localhost:${port}/callbacks/${tag}-refused`), schedule: { kind: "once", delay_ms: 0 } });
    const stub = testShard();
    await stub.create([refused, allowed]);
    const runs = await waitFor(() => allRuns(stub), (r) => r.length === 2 && r.every((x) => x.state === "ok" || x.state === "dead"), 10_000);
    expect(runs.find((r) => r.job_id === allowed.id)?.state).toBe("ok");
    expect(runs.find((r) => r.job_id === refused.id)).toMatchObject({ state: "dead", attempts: 1, detail: "webhook URL refused by the outbound-URL policy: only https URLs are allowed" });
    const got = (id: string) => fetch(`${env.FAKE_TELEGRAM_URL}/control/callbacks/${tag}-${id}`).then((r) => r.json() as Promise<unknown[]>);
    expect(await got("ok")).toHaveLength(1);
    expect(await got("refused")).toEqual([]);
  });
});
