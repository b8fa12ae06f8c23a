// The browser side of test/console/console.e2e.test.ts: launching flags, opening the console in a
// fresh context (its own cookie jar) that collects CSP violations and page errors, signing in,
// moving between pages, axe-core and screenshots.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { expect } from "vitest";
import { root } from "../support/local-stack.ts";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// Flags for a headless Chromium on a CI machine without a GPU, sandbox or network (docs/console.md).
export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];
export const ARTIFACTS = join(root, "test-artifacts", "console");
const AXE_SOURCE = readFileSync(join(root, "node_modules", "axe-core", "axe.min.js"), "utf8");

// A fresh browser context per operator (its own cookie jar); every CSP violation and page error
// is collected so a test can assert there was none.
export async function openConsole(browser: Browser, origin: string): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(msg.text());
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  // The console asks before a rollback or a revoke; the operator here always agrees.
  page.on("dialog", (dialog) => void dialog.accept());
  await page.goto(`${origin}/console/`);
  return { page, problems };
}

export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel("Admin token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Console pages" }).waitFor();
}

export async function goTo(page: Page, name: string): Promise<void> {
  await page.getByRole("link", { name }).click();
  await page.getByRole("heading", { level: 1, name }).waitFor();
}

// axe-core is evaluated through the DevTools protocol (not a <script> tag, which the page's CSP
// would rightly refuse) and must find nothing serious or critical.
export async function checkAccessibility(page: Page, label: string): Promise<void> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown }[] }[] }> } }).axe;
    const result = await axe.run(); // the whole document
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => JSON.stringify(n.target)).slice(0, 5) }));
  });
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(serious, `${label}: ${JSON.stringify(serious, null, 2)}`).toEqual([]);
}

// The whole page; or, for a page many screens long (Swagger UI's), its top `height` pixels, or
// (height 0) the window as scrolled now.
export async function shoot(page: Page, name: string, height?: number): Promise<void> {
  const path = join(ARTIFACTS, `${name}.png`);
  if (height === undefined) await page.screenshot({ path, fullPage: true });
  else if (height === 0) await page.screenshot({ path });
  else await page.screenshot({ path, fullPage: true, clip: { x: 0, y: 0, width: page.viewportSize()?.width ?? 1280, height } });
}
