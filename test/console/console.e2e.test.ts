// The operator console in a real browser, as an operator uses it: `node scripts/start.ts` (what
// `npm start` runs) on free ports, Debian's headless Chromium driven by playwright-core, a token
// from `npm run -s admin -- token`. Signs in as the owner, creates a tenant and a key, sends a chat
// call and watches the overview's request count move, edits a tenant's limits and budgets, reads
// calls and spend per route target, creates, triggers, pauses and deletes jobs (cron, interval,
// one-shot), writes through Swagger UI's "Try it out"; edits an agent, runs a hook account's
// session through pairing, history, export, dead letters and erase, denies a pairing request;
// signs in as that tenant's viewer and sees only that tenant with every write button disabled,
// and the API refusing a write (from the page and from Swagger UI). Every page is
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
    // Swagger UI's chunk must load on the API reference page only.
    const swaggerChunks: string[] = [];
    page.on("request", (r) => void (/\/console\/assets\/swagger-ui-[^/]*\.(js|css)$/.test(new URL(r.url()).pathname) && swaggerChunks.push(r.url())));
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
    // Limits and budgets in a form, validated by the router config's own validator.
    await page.getByRole("button", { name: `Edit limits of ${tenantId}` }).click();
    const capsForm = page.getByTestId("caps-editor");
    await capsForm.getByLabel("Requests per minute").fill("-5");
    await capsForm.getByRole("button", { name: "Save limits and budgets" }).click();
    await expect.poll(() => capsForm.getByRole("alert").textContent()).toContain("limits.tenant.requests_per_min");
    await capsForm.getByLabel("Requests per minute").fill("120");
    await capsForm.getByLabel("Daily budget (USD)").fill("5");
    await capsForm.getByRole("button", { name: "Save limits and budgets" }).click();
    await page.getByText(`Limits and budgets of ${tenantId} saved as router config version 1.`).waitFor();
    await expect.poll(() => page.getByTestId(`caps-${tenantId}`).textContent()).toBe("limits: requests per min 120; budgets: daily usd 5");
    const stored = await page.evaluate(async (t) => (await (await fetch(`/admin/router-config?tenant_id=${t}`)).json()) as { version: number; config: Record<string, unknown> }, tenantId);
    expect(stored).toMatchObject({ version: 1, config: { limits: { tenant: { requests_per_min: 120 } }, budgets: { tenant: { daily_usd: 5 } } } });
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
    // Calls by model and serving provider from the usage rollups (the overview's chat call asked
    // for the demo model "default"), the spend against the budgets, and what no API exposes.
    const trafficRow = page.getByTestId("target-traffic").locator("tbody tr").filter({ has: page.getByRole("cell", { name: "default", exact: true }) });
    await trafficRow.waitFor();
    expect(await trafficRow.locator("td").nth(1).textContent()).toBe("gpu-backend");
    expect(Number(await trafficRow.locator("td").nth(2).textContent())).toBeGreaterThanOrEqual(1);
    expect(await page.getByTestId("spend").textContent()).toMatch(/^Spend today \(\d{4}-\d\d-\d\d\): \$[\d.]+ \(no budget\); this month/);
    await page.getByText("no API exposes them", { exact: false }).waitFor();
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
    // An interval job (its first 5 times previewed), a one-shot job, and a delete.
    await page.getByLabel("Schedule", { exact: true }).selectOption("interval");
    await page.getByLabel("Every (seconds)").fill("0");
    expect(await page.getByRole("button", { name: "Create job" }).isDisabled()).toBe(true);
    await page.getByLabel("Every (seconds)").fill("5400");
    await expect.poll(() => preview.locator("li").count()).toBe(5);
    await page.getByLabel("Tenant", { exact: true }).selectOption(tenantId);
    await page.getByLabel("Job name").fill("every 90 minutes");
    await page.getByRole("button", { name: "Create job" }).click();
    await page.getByText("Interval job created.").waitFor();
    const intervalRow = page.getByTestId("jobs").getByRole("row").filter({ hasText: "every 90 minutes" });
    expect(await intervalRow.locator("td").nth(2).textContent()).toBe("every 5400 s");
    await page.getByLabel("Schedule", { exact: true }).selectOption("once");
    const inTwoDays = new Date(Date.now() + 2 * 86_400_000);
    const pad = (n: number) => String(n).padStart(2, "0");
    const local = `${inTwoDays.getFullYear()}-${pad(inTwoDays.getMonth() + 1)}-${pad(inTwoDays.getDate())}T10:15`; // the browser's zone is this machine's
    await page.getByLabel("At (your browser's time zone)").fill(local);
    await preview.getByText("Fires once at").waitFor();
    await page.getByLabel("Tenant", { exact: true }).selectOption(tenantId);
    await page.getByLabel("Job name").fill("one shot");
    await page.getByRole("button", { name: "Create job" }).click();
    await page.getByText("One-shot job created.").waitFor();
    const onceRow = page.getByTestId("jobs").getByRole("row").filter({ hasText: "one shot" });
    expect(await onceRow.locator("td").nth(2).textContent()).toBe("once");
    expect(await onceRow.locator("td").nth(5).textContent()).toBe(new Date(local).toISOString());
    await intervalRow.getByRole("button", { name: /^Delete/ }).click();
    await page.getByText("Job every 90 minutes deleted.").waitFor();
    expect(await intervalRow.count()).toBe(0);
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

    // API reference: Swagger UI on the admin document, its chunk loaded only now; "Try it out"
    // sends a GET and a write with the console session (the write needs the CSRF header too).
    expect(swaggerChunks).toEqual([]);
    await goTo(page, "API reference");
    await page.locator(".swagger-ui .opblock").first().waitFor();
    expect(swaggerChunks.length).toBeGreaterThan(0);
    expect(await page.locator(".swagger-ui .info .title").textContent()).toContain("OAS 3.1");
    const tryOut = async (method: string, path: string, body?: unknown) => {
      const op = page
        .locator(`.swagger-ui .opblock.opblock-${method}`)
        .filter({ has: page.locator(".opblock-summary-path", { hasText: new RegExp(`^${path.replace(/[/{}]/g, "\\$&")}$`) }) });
      await op.locator(".opblock-summary").first().click();
      await op.getByRole("button", { name: "Try it out" }).click();
      if (body !== undefined) await op.locator("textarea.body-param__text").fill(JSON.stringify(body));
      await op.getByRole("button", { name: "Execute" }).click();
      const answer = op.locator(".live-responses-table tbody tr").first();
      await answer.waitFor();
      return { status: (await answer.locator(".response-col_status").textContent())!.trim(), body: (await answer.locator(".response-col_description pre").first().textContent())! };
    };
    const listed = await tryOut("get", "/admin/tenants");
    expect(listed.status).toBe("200");
    expect(listed.body).toContain(`"id": "${tenantId}"`);
    const created = await tryOut("post", "/admin/tenants", { name: "Swagger Co", id: `${tenantId}-sw` });
    expect(created.status).toBe("201");
    expect(JSON.parse(created.body)).toMatchObject({ id: `${tenantId}-sw`, name: "Swagger Co" });
    await checkAccessibility(page, "API reference");
    // No warning box: Swagger UI takes the document's JSON Schema dialect (the OpenAPI default).
    expect(await page.getByText("contains a value different from the default").count()).toBe(0);
    await shoot(page, "api-reference", 1800);
    await page.getByLabel("Document").selectOption("/openapi.json");
    await page.locator(".swagger-ui .opblock-summary-path", { hasText: /^\/v1\/chat\/completions$/ }).first().waitFor();
    await checkAccessibility(page, "API reference (/v1)");

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
    // Edited in a form; the API validates the change and names a bad field.
    await page.getByRole("button", { name: "Edit agent pairer" }).click();
    const agentForm = page.getByTestId("agent-editor");
    await agentForm.getByLabel("Max reply tokens").fill("0");
    await agentForm.getByRole("button", { name: "Save agent" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("max_reply_tokens");
    await agentForm.getByLabel("Max reply tokens").fill("64");
    await agentForm.getByLabel("System prompt").fill("Be very brief.");
    await agentForm.getByRole("button", { name: "Save agent" }).click();
    await page.getByText("Agent pairer updated (system_prompt, max_reply_tokens).").waitFor();
    const pairerId = (await page.getByTestId("agents").getByRole("row").filter({ hasText: "pairer" }).locator("td").nth(1).textContent())!;
    const pairer = await page.evaluate(async (id) => (await (await fetch(`/admin/agents/${id}`)).json()) as Record<string, unknown>, pairerId);
    expect(pairer).toMatchObject({ system_prompt: "Be very brief.", max_reply_tokens: 64, dm_policy: "pairing" });
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

    // Deny: bob asks to pair, the request is denied and leaves the list; his code is dead.
    await goTo(page, "Channels & agents");
    const asBob = () =>
      fetch(`${origin}/hooks/agent`, { method: "POST", headers: { authorization: `Bearer ${hookToken}`, "idempotency-key": "bob-1", "content-type": "application/json" }, body: JSON.stringify({ text: "let me in", peer: "bob" }) });
    expect((await asBob().catch(asBob)).status).toBe(202);
    const bobRow = page.getByTestId("pairings").getByRole("row").filter({ hasText: "bob" });
    await expect
      .poll(
        async () => {
          await page.getByRole("button", { name: "Refresh", exact: true }).click();
          return bobRow.filter({ hasText: "pending" }).count();
        },
        { timeout: 30_000, interval: 500 },
      )
      .toBe(1);
    const bobCode = (await bobRow.locator("td").nth(3).textContent())!;
    await bobRow.getByRole("button", { name: /^Deny/ }).click();
    await page.getByText("Pairing request of bob denied.").waitFor();
    expect(await bobRow.count()).toBe(0);
    const approveDenied = await page.evaluate(
      async (code) => (await fetch("/admin/pairings/approve", { method: "POST", headers: { "content-type": "application/json", "x-edgeclaw-console": "1" }, body: JSON.stringify({ tenant_id: "demo", code }) })).status,
      bobCode,
    );
    expect(approveDenied).toBe(404);
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
    for (const name of ["Create tenant", "Create key", `Edit limits of ${tenantId}`]) expect(await page.getByRole("button", { name }).isDisabled()).toBe(true);
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

    // Swagger UI's "Try it out" is the same session: a viewer's write is refused by the API.
    await goTo(page, "API reference");
    const keysOp = page.locator(".swagger-ui .opblock.opblock-post").filter({ has: page.locator(".opblock-summary-path", { hasText: /^\/admin\/api-keys$/ }) });
    await keysOp.locator(".opblock-summary").first().click();
    await keysOp.getByRole("button", { name: "Try it out" }).click();
    await keysOp.locator("textarea.body-param__text").fill(JSON.stringify({ name: "sneaky" }));
    await keysOp.getByRole("button", { name: "Execute" }).click();
    const refusedRow = keysOp.locator(".live-responses-table tbody tr").first();
    await refusedRow.waitFor();
    expect((await refusedRow.locator(".response-col_status").textContent())!.trim()).toBe("403");
    expect(JSON.parse((await refusedRow.locator(".response-col_description pre").first().textContent())!)).toMatchObject({ error: { code: "read_only" } });
    await checkAccessibility(page, "API reference (viewer)");
    await refusedRow.evaluate((row) => (row as unknown as { scrollIntoView(o: { block: string }): void }).scrollIntoView({ block: "center" }));
    await shoot(page, "api-reference-viewer", 0);

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
