// The operator console in a real browser, as an operator uses it: `node scripts/start.ts` (what
// `npm start` runs) on free ports, Debian's headless Chromium driven by playwright-core, a token
// from `npm run -s admin -- token`. Signs in as the owner, creates a tenant and a key, sends a chat
// call and watches the overview's request count move, creates, triggers and pauses a cron job;
// runs a hook account's session through pairing, history, export, dead letters and erase; signs in as that tenant's viewer and sees
// only that tenant with every write button disabled, and the API refusing a write. Every page is
// checked with axe-core (no serious or critical violations) and by the browser's CSP enforcement
// (no violation reported), and photographed under test-artifacts/console/.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { root } from "../support/local-stack.ts";
import { cleanUp, ownerToken, prepare, start, stop, type Running, type StartDirs } from "../support/npm-start.ts";
import { ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, checkAccessibility, goTo, openConsole as openIn, shoot, signIn } from "./browser.ts";


let dirs: StartDirs;
let running: Running | undefined;
let browser: Browser;
let origin: string;
const openConsole = () => openIn(browser, origin);

function mintToken(args: string[]): string {
  const minted = spawnSync(process.execPath, [join(root, "scripts", "admin.ts"), "token", ...args], {
    cwd: root,
    env: { ...process.env, EDGECLAW_DEV_VARS: join(dirs.workDir, "dev.vars") },
    encoding: "utf8",
  });
  if (minted.status !== 0) throw new Error(`admin token failed: ${minted.stderr}`);
  return minted.stdout.trim();
}


async function shownCount(page: Page): Promise<number> {
  return Number(await page.getByTestId("total-requests").textContent());
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dirs = await prepare("edgeclaw-console-e2e-");
  running = await start(dirs);
  origin = `http://127.0.0.1:${dirs.ports.gateway}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
});

afterAll(async () => {
  await browser?.close();
  if (running) await stop(running);
  cleanUp(dirs);
});

describe("the operator console in Chromium", () => {
  const tenantId = `acme-${Date.now().toString(36)}`;

  it("prints the console URL and how to get a token", () => {
    expect(running!.output()).toContain(`Console:  ${origin}/console/`);
    expect(running!.output()).toContain("npm run -s admin -- token --role owner");
  });

  it("owner: signs in, creates a tenant and a key, and sees a chat call on the overview", async () => {
    const { page, problems } = await openConsole();
    await page.getByRole("heading", { name: "Sign in to the EdgeClaw console" }).waitFor();
    await checkAccessibility(page, "sign-in");
    await shoot(page, "sign-in");

    // A wrong token is refused on the page, without a session.
    await page.getByLabel("Admin token").fill("not-a-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("invalid");

    await signIn(page, ownerToken(dirs));
    expect(await page.getByTestId("who").textContent()).toBe("owner · all tenants");
    // The session cookie is httpOnly: the page's own scripts cannot read it.
    expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).toBe("");
    const cookies = await page.context().cookies();
    expect(cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite }))).toEqual([
      { name: "edgeclaw-console", httpOnly: true, sameSite: "Strict" },
    ]);

    // Overview: the demo tenant's traffic so far, then one more chat call shows up on refresh.
    await page.getByTestId("total-requests").waitFor();
    const before = await shownCount(page);
    const chat = await fetch(`${running!.baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${running!.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "hello console" }], max_tokens: 4 }),
    });
    expect(chat.status).toBe(200);
    await chat.json();
    await expect.poll(() => shownCount(page), { timeout: 60_000, interval: 500 }).toBe(before + 1);
    expect(await page.locator("[data-testid=chart-requests] canvas").count()).toBeGreaterThan(0);
    // The latency chart plots the API's p50/p99 estimates (not a total of them).
    expect(await page.locator("[data-testid=chart-latency]").getAttribute("aria-label")).toMatch(/Latest minute with calls: p50 \d+ ms, p99 \d+ ms/);
    await page.getByRole("cell", { name: "demo", exact: true }).first().waitFor();
    await checkAccessibility(page, "overview");
    await shoot(page, "overview");

    // A vault secret for the demo tenant, set through the API (the console never takes values).
    const secretValue = `sk-console-${Date.now()}`;
    const put = await page.evaluate(
      async (value) => (await fetch("/admin/secrets/openai", { method: "PUT", headers: { "content-type": "application/json", "x-edgeclaw-console": "1" }, body: JSON.stringify({ tenant_id: "demo", value }) })).status,
      secretValue,
    );
    expect(put).toBeLessThan(300);

    // Tenants & keys: create a tenant, then a key for it; the key is shown once.
    await goTo(page, "Tenants & keys");
    // Each tenant's limits and budgets from its router config, and the vault's names without values.
    await page.getByTestId("secrets").getByRole("cell", { name: "vault:openai", exact: true }).waitFor();
    expect(await page.content()).not.toContain(secretValue);
    await expect.poll(() => page.getByTestId("caps-demo").textContent()).toBe("limits: none; budgets: none");
    await page.getByLabel("Name", { exact: true }).fill("Acme Corp");
    await page.getByLabel("Id (optional)").fill(tenantId);
    await page.getByRole("button", { name: "Create tenant" }).click();
    await page.getByTestId("tenants").getByRole("cell", { name: tenantId, exact: true }).waitFor();
    await page.getByLabel("Tenant", { exact: true }).selectOption(tenantId);
    await page.getByLabel("Key name").fill("acme app");
    await page.getByRole("button", { name: "Create key" }).click();
    const key = (await page.getByTestId("new-key").textContent())!;
    expect(key).toMatch(/^sk-/);
    await page.getByTestId("keys").getByRole("cell", { name: "acme app", exact: true }).waitFor();
    // The new key works against the API (its tenant has no model yet: an empty list, not a 401).
    const models = await fetch(`${running!.baseURL}/models`, { headers: { authorization: `Bearer ${key}` } });
    expect(models.status).toBe(200);
    await checkAccessibility(page, "tenants");
    await shoot(page, "tenants");

    // Models & routes: the demo tenant's provider and model; a router config edited as JSON, refused
    // by the API with the field named, then saved after its diff, changed again, and rolled back.
    await goTo(page, "Models & routes");
    await page.getByTestId("providers").getByRole("cell", { name: "gpu-backend", exact: true }).waitFor();
    await page.getByTestId("models").getByRole("cell", { name: "default", exact: true }).waitFor();
    const editor = page.getByLabel("Config (JSON; docs/router.md)");
    const single = { routes: { chat: { tree: { type: "target", id: "gpu", provider: "gpu-backend", model: "e2e-tiny" } } } };
    const split = { routes: { chat: { tree: { type: "weighted", id: "split", children: [{ ...single.routes.chat.tree, weight: 3 }, { type: "target", id: "gpu2", provider: "gpu-backend", model: "e2e-tiny", weight: 1 }] } } } };
    await editor.fill(JSON.stringify({ routes: { chat: { tree: { type: "bogus" } } } }));
    await page.getByRole("button", { name: "Show diff" }).click();
    await page.getByRole("button", { name: "Save as new version" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("routes.chat.tree");
    for (const [config, version] of [[single, 1], [split, 2]] as const) {
      await editor.fill(JSON.stringify(config));
      await page.getByRole("button", { name: "Show diff" }).click();
      await page.getByTestId("cfg-diff").waitFor();
      expect(await page.getByTestId("cfg-diff").locator(".add").count()).toBeGreaterThan(0);
      if (version === 2) await shoot(page, "routes-diff");
      await page.getByRole("button", { name: "Save as new version" }).click();
      await page.getByText(`Saved as version ${version}.`).waitFor();
    }
    const route = page.getByTestId("route-chat");
    await expect.poll(() => route.locator(".node").allTextContents()).toEqual(["weighted split", "target gpu: gpu-backend / e2e-tiny (weight 3)", "target gpu2: gpu-backend / e2e-tiny (weight 1)"]);
    await expect.poll(() => page.getByTestId("breakers-chat").locator("tbody td:nth-child(3)").allTextContents()).toEqual(["closed", "closed"]);
    await checkAccessibility(page, "models & routes");
    await shoot(page, "routes");
    await page.getByRole("button", { name: "Roll back to 1" }).click();
    await page.getByText("Version 1 is active again as version 3.").waitFor();
    await expect.poll(() => route.locator(".node").allTextContents()).toEqual(["target gpu: gpu-backend / e2e-tiny"]);
    expect(await page.getByTestId("versions").locator("tbody tr").first().textContent()).toContain("rollback to 1");

    // Jobs: the cron preview (words and the next 5 fire times in the job's zone), then create,
    // trigger (a manual run appears in its history) and pause.
    await goTo(page, "Jobs");
    await page.getByLabel("Cron expression (5 fields, or 6 with seconds)").fill("not a cron");
    await page.getByTestId("cron-preview").getByText("Invalid:").waitFor();
    expect(await page.getByRole("button", { name: "Create job" }).isDisabled()).toBe(true);
    await page.getByLabel("Cron expression (5 fields, or 6 with seconds)").fill("30 9 * * 1-5");
    await page.getByLabel("Time zone (IANA)").fill("Europe/Berlin");
    const preview = page.getByTestId("cron-preview");
    await expect.poll(() => preview.locator("li").count()).toBe(5);
    expect(await preview.textContent()).toContain("Monday to Friday");
    for (const time of await preview.locator("li").allTextContents()) expect(time).toMatch(/^(Mon|Tue|Wed|Thu|Fri), .* 09:30:00 CES?T$/);
    await page.getByLabel("Tenant", { exact: true }).selectOption(tenantId);
    await page.getByLabel("Job name").fill("morning report");
    await page.getByRole("button", { name: "Create job" }).click();
    const jobRow = page.getByTestId("jobs").getByRole("row").filter({ hasText: "morning report" });
    await jobRow.waitFor();
    expect(await jobRow.textContent()).toContain("active");
    expect(await jobRow.locator("td").nth(5).textContent()).toMatch(/^\d{4}-\d\d-\d\dT0[78]:30:00\.000Z$/); // 09:30 Berlin
    await jobRow.getByRole("button", { name: /^Trigger/ }).click();
    await expect
      .poll(
        async () => {
          await page.getByRole("button", { name: "Refresh runs" }).click();
          return page.getByTestId("runs").locator("tbody tr").filter({ hasText: "yes" }).filter({ hasText: "ok" }).count();
        },
        { timeout: 30_000, interval: 500 },
      )
      .toBe(1);
    await jobRow.getByRole("button", { name: /^Pause/ }).click();
    await expect.poll(() => jobRow.locator("td").nth(4).textContent()).toBe("paused");
    expect(await jobRow.getByRole("button", { name: /^Resume/ }).isEnabled()).toBe(true);
    await checkAccessibility(page, "jobs");
    await shoot(page, "jobs");

    // Audit: the console's own writes are there, filterable by action.
    await goTo(page, "Audit");
    await page.getByTestId("audit").getByRole("cell", { name: "tenant.create", exact: true }).first().waitFor();
    await page.getByLabel("Action (exact, or a prefix ending in .)").fill("api_key.");
    await page.getByRole("button", { name: "Filter" }).click();
    await expect.poll(async () => new Set(await page.getByTestId("audit").locator("tbody td:nth-child(5)").allTextContents())).toEqual(new Set(["api_key.create"]));
    await checkAccessibility(page, "audit");
    await shoot(page, "audit");

    // API reference: the admin document, rendered; a GET sent with the console session.
    await goTo(page, "API reference");
    await page.getByTestId("ref-title").waitFor();
    expect(await page.getByTestId("ref-title").textContent()).toContain("OpenAPI 3.1");
    const listTenants = page.locator("details.op").filter({ has: page.locator("summary", { hasText: /^GET \/admin\/tenants / }) });
    await listTenants.locator("summary").click();
    await listTenants.getByRole("button", { name: "Send GET" }).click();
    const answer = listTenants.locator("pre[data-testid^=answer-]");
    await answer.waitFor();
    expect(await answer.textContent()).toMatch(/^200 /);
    expect(await answer.textContent()).toContain(`"id": "${tenantId}"`);
    await checkAccessibility(page, "API reference");
    await shoot(page, "api-reference");
    await page.getByLabel("Document").selectOption("/openapi.json");
    await page.getByText("/v1/chat/completions", { exact: true }).first().waitFor();
    expect(await page.getByRole("button", { name: "Send GET" }).count()).toBe(0); // reads only on the admin document

    expect(problems).toEqual([]);
    // Sign-out ends the session: the API refuses the old cookie.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to the EdgeClaw console" }).waitFor();
    const status = await page.evaluate(async () => (await fetch("/admin/tenants")).status);
    expect(status).toBe(401);
    await page.context().close();
  });

  it("owner: a hook account's session on Channels & agents and Sessions: pairing, history, export, dead letters, erase", async () => {
    const { page, problems } = await openConsole();
    await signIn(page, ownerToken(dirs));

    // Channels & agents: a hook and a WebChat account for the demo tenant, each with its URL.
    await goTo(page, "Channels & agents");
    const createAccount = async (channel: string, name: string) => {
      await page.getByLabel("Tenant", { exact: true }).first().selectOption("demo");
      await page.getByLabel("Channel", { exact: true }).first().selectOption(channel);
      await page.getByLabel("Account name").fill(name);
      await page.getByRole("button", { name: "Create account" }).click();
      await page.getByText(`Account ${name} created.`).waitFor();
    };
    await createAccount("hook", "console-hook");
    const hookToken = (await page.getByTestId("shown-once").textContent())!;
    expect(hookToken).toMatch(/^ehk_/);
    expect(await page.getByTestId("url-console-hook").textContent()).toBe(`${origin}/hooks/agent`);
    await createAccount("webchat", "console-chat");
    const chatRow = page.getByTestId("accounts-webchat").getByRole("row").filter({ hasText: "console-chat" });
    const chatId = (await chatRow.locator("td").nth(1).textContent())!;
    expect(await page.getByTestId("url-console-chat").textContent()).toBe(`${origin}/webchat/${chatId}`);

    // An agent that asks unknown senders to pair, bound to the hook account.
    await page.locator("#agent-tenant").selectOption("demo");
    await page.getByLabel("Agent name").fill("pairer");
    await page.getByLabel("Model").fill("default");
    await page.getByLabel("System prompt").fill("Be brief.");
    await page.getByLabel("DM policy").selectOption("pairing");
    await page.getByRole("button", { name: "Create agent" }).click();
    await page.getByTestId("agents").getByRole("cell", { name: "pairer", exact: true }).waitFor();
    await page.locator("#bind-channel").selectOption("hook");
    await page.locator("#bind-account").selectOption({ label: "console-hook (hook)" });
    await page.getByRole("button", { name: "Create binding" }).click();
    await page.getByText("Binding created.").waitFor();
    expect(await page.getByTestId("bindings").locator("tbody tr").count()).toBe(1);

    // A message through the hook: the first one from alice meets the pairing policy.
    const post = (text: string, key: string, callback?: string) =>
      fetch(`${origin}/hooks/agent`, {
        method: "POST",
        headers: { authorization: `Bearer ${hookToken}`, "idempotency-key": key, "content-type": "application/json" },
        body: JSON.stringify({ text, peer: "alice", ...(callback ? { callback_url: callback } : {}) }),
      });
    // As in test/e2e/cli.e2e.test.ts: the first POST may meet a pooled connection the dev server
    // has closed; the hook dedupes by Idempotency-Key, so sending again is safe.
    const send = (text: string, key: string, callback?: string) => post(text, key, callback).catch(() => post(text, key, callback));
    expect((await send("hi", "c1")).status).toBe(202);
    const pending = page.getByTestId("pairings").getByRole("row").filter({ hasText: "alice" });
    await expect
      .poll(
        async () => {
          await page.getByRole("button", { name: "Refresh", exact: true }).click();
          return pending.filter({ hasText: "pending" }).count();
        },
        { timeout: 30_000, interval: 500 },
      )
      .toBe(1);
    await checkAccessibility(page, "channels & agents");
    await shoot(page, "channels");
    await pending.getByRole("button", { name: /^Approve/ }).click();
    await page.getByText("Pairing of alice approved.").waitFor();
    expect(await pending.locator("td").nth(4).textContent()).toBe("approved");

    // Paired: the next message is answered; two more, whose callback answers 404, become dead letters.
    expect((await send("hello console", "c2")).status).toBe(202);
    const badCallback = `http://127.0.0.1:${dirs.ports.gpu}/no-such-callback`;
    for (const key of ["c3", "c4"]) expect((await send(`hello ${key}`, key, badCallback)).status).toBe(202);

    await goTo(page, "Sessions");
    const refresh = page.getByRole("button", { name: "Refresh", exact: true });
    const dead = page.getByTestId("dead-letters").locator("tbody tr");
    await expect
      .poll(
        async () => {
          await refresh.click();
          return dead.count();
        },
        { timeout: 60_000, interval: 500 },
      )
      .toBe(2);
    await page.getByLabel("Search (key, agent, channel, account)").fill("hook");
    const row = page.getByTestId("sessions").getByRole("row").filter({ hasText: "/hook/" });
    expect(await row.count()).toBe(1);
    const key = (await row.locator("td").first().textContent())!;
    expect(key).toMatch(/^demo\/agt_[^/]+\/hook\/chn_[^/]+\/dm:alice$/);
    const history = page.getByTestId("history").locator("tbody td:nth-child(3)");
    await row.getByRole("button", { name: /^Open/ }).click();
    await expect
      .poll(
        async () => {
          await row.getByRole("button", { name: /^Open/ }).click();
          return history.allTextContents();
        },
        { timeout: 30_000, interval: 500 },
      )
      .toEqual(expect.arrayContaining(["hello console", "hello c3", "hello c4"]));
    await checkAccessibility(page, "sessions");
    await shoot(page, "sessions");

    // Export: the download is the session's export, history included.
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export JSON" }).click()]);
    const exported = JSON.parse(readFileSync((await download.path())!, "utf8")) as { key: string; paired: boolean; history: { content: string }[] };
    expect(exported.key).toBe(key);
    expect(exported.paired).toBe(true);
    expect(exported.history.map((h) => h.content)).toEqual(expect.arrayContaining(["hello console", "hello c3", "hello c4"]));

    // Dead letters: retry one, drop the other.
    const [first, second] = await dead.locator("td:first-child").allTextContents();
    await dead.filter({ hasText: first! }).getByRole("button", { name: /^Retry/ }).click();
    await page.getByText(`Retried ${first}.`).waitFor();
    await dead.filter({ hasText: second! }).getByRole("button", { name: /^Drop/ }).click();
    await page.getByText(`Dropped ${second}.`).waitFor();
    expect(await dead.locator("td:first-child").allTextContents()).not.toContain(second);

    // Erase needs the key typed out.
    const eraseButton = page.getByRole("button", { name: "Erase session" });
    expect(await eraseButton.isDisabled()).toBe(true);
    await page.getByLabel("Type the session key to erase it for good").fill(key);
    await eraseButton.click();
    await page.getByText(`Session ${key} erased.`).waitFor();
    expect(await row.count()).toBe(0);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("tenant viewer: sees only its tenant, every write button disabled, and the API refuses a write", async () => {
    const { page, problems } = await openConsole();
    await signIn(page, mintToken(["--role", "viewer", "--tenant", tenantId]));
    expect(await page.getByTestId("who").textContent()).toBe(`viewer · tenant ${tenantId}`);

    await goTo(page, "Tenants & keys");
    await page.getByTestId("keys").getByRole("cell", { name: "acme app", exact: true }).waitFor();
    const tenantIds = await page.getByTestId("tenants").locator("tbody td:first-child").allTextContents();
    expect(tenantIds).toEqual([tenantId]);
    const keyTenants = await page.getByTestId("keys").locator("tbody td:first-child").allTextContents();
    expect(new Set(keyTenants)).toEqual(new Set([tenantId]));
    for (const name of ["Create tenant", "Create key"]) expect(await page.getByRole("button", { name }).isDisabled()).toBe(true);
    const revokes = page.getByRole("button", { name: /^Revoke/ });
    expect(await revokes.count()).toBeGreaterThan(0);
    for (const button of await revokes.all()) expect(await button.isDisabled()).toBe(true);
    await checkAccessibility(page, "tenants (viewer)");
    await shoot(page, "tenants-viewer");

    // The page's own session, used the way the console uses it: the API says no.
    const refused = await page.evaluate(async () => {
      const res = await fetch("/admin/api-keys", {
        method: "POST",
        headers: { "content-type": "application/json", "x-edgeclaw-console": "1" },
        body: JSON.stringify({ name: "sneaky" }),
      });
      return { status: res.status, body: (await res.json()) as { error: { code: string } } };
    });
    expect(refused).toEqual({ status: 403, body: { error: { code: "read_only", message: expect.any(String) } } });

    await goTo(page, "Models & routes");
    await page.getByText("No routes: each model is served by its own provider directly.").waitFor();
    expect(await page.getByLabel("Config (JSON; docs/router.md)").getAttribute("readonly")).not.toBeNull();
    expect(await page.getByRole("button", { name: "Save as new version" }).isDisabled()).toBe(true);
    await checkAccessibility(page, "models & routes (viewer)");

    await goTo(page, "Jobs");
    const jobRow = page.getByTestId("jobs").getByRole("row").filter({ hasText: "morning report" });
    await jobRow.waitFor();
    for (const button of await jobRow.getByRole("button", { name: /^(Trigger|Resume|Pause)/ }).all()) expect(await button.isDisabled()).toBe(true);
    expect(await page.getByRole("button", { name: "Create job" }).isDisabled()).toBe(true);
    expect(new Set(await page.getByTestId("jobs").locator("tbody td:nth-child(2)").allTextContents())).toEqual(new Set([tenantId]));
    await checkAccessibility(page, "jobs (viewer)");
    await shoot(page, "jobs-viewer");

    await goTo(page, "Channels & agents");
    await page.getByText("No channel accounts.").waitFor();
    for (const name of ["Create account", "Create agent", "Create binding"]) expect(await page.getByRole("button", { name }).isDisabled()).toBe(true);
    await checkAccessibility(page, "channels & agents (viewer)");
    await goTo(page, "Sessions");
    await page.getByText("No dead letters.").waitFor();
    await checkAccessibility(page, "sessions (viewer)");

    await goTo(page, "Overview");
    await page.getByText("No traffic in this span.").waitFor();
    await checkAccessibility(page, "overview (viewer)");
    await goTo(page, "Audit");
    await page.getByTestId("audit").getByRole("cell", { name: "console.sign_in", exact: true }).first().waitFor();
    const auditTenants = await page.getByTestId("audit").locator("tbody td:nth-child(2)").allTextContents();
    expect(auditTenants.length).toBeGreaterThan(0);
    expect(new Set(auditTenants)).toEqual(new Set([tenantId]));
    expect(problems).toEqual([]);
    await page.context().close();
  });
});
