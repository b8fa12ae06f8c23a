// The admin CLI's tables without a gateway: every level of --help exits 0, wrong words exit 2
// with an error and a hint, each verb builds the request the admin route expects (--dry-run),
// and every route the admin API registers (read from workers/admin/) has a verb.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MIN_SECRET_LENGTH } from "../../scripts/admin/auth.ts";
import { main } from "../../scripts/admin/cli.ts";
import { MIN_SECRET_LENGTH as WORKER_MIN_SECRET_LENGTH } from "../../workers/auth/admin-token.ts";
import type { Io } from "../../scripts/admin/io.ts";
import { resources } from "../../scripts/admin/resources/index.ts";

const root = join(import.meta.dirname, "../..");

async function run(argv: string[], stdin = "") {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    // No token anywhere: a verb that tried to send would fail on it.
    env: { EDGECLAW_DEV_VARS: "/nonexistent/.dev.vars" },
    cwd: root,
    readStdin: async () => stdin,
    isStdinTty: false,
  };
  const code = await main(argv, io);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("help", () => {
  it("exits 0 on the root, on each resource and on each verb", async () => {
    const root = await run(["--help"]);
    expect(root.code).toBe(0);
    for (const r of resources) {
      expect(root.out).toContain(`  ${r.name} `);
      const res = await run([r.name, "--help"]);
      expect(res.code, r.name).toBe(0);
      for (const v of r.verbs) {
        expect(res.out).toContain(`  ${v.name} `);
        const verb = await run([r.name, v.name, "--help"]);
        expect(verb.code, `${r.name} ${v.name}`).toBe(0);
        expect(verb.out).toContain(`Usage: npm run admin -- ${r.name} `);
        if (v.path) expect(verb.out).toContain(`Calls: ${v.method} /admin${v.path}`);
      }
    }
  });

  it("answers an unknown resource, verb or option with one error line, a hint and exit 2", async () => {
    for (const argv of [["frobs", "list"], ["tenants", "frob"], ["tenants"], ["tenants", "create", "--name", "x", "--bogus", "1"], ["tenants", "show"], []]) {
      const res = await run(argv);
      expect(res.code, argv.join(" ")).toBe(2);
      expect(res.out).toBe("");
      const lines = res.err.split("\n");
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^error: /);
      expect(lines[1]).toMatch(/^hint: npm run admin -- /);
    }
  });
});

async function dry(argv: string[]) {
  const res = await run([...argv, "--dry-run"]);
  expect(res.code, res.err).toBe(0);
  const [line, ...body] = res.out.split("\n");
  return { line, body: body.length ? JSON.parse(body.join("\n")) : undefined };
}

describe("requests (--dry-run)", () => {
  const base = "http://127.0.0.1:8787/admin";
  it("maps flags to query parameters on reads and to body fields on writes", async () => {
    expect(await dry(["tenants", "list", "--limit", "5"])).toEqual({ line: `GET ${base}/tenants?limit=5`, body: undefined });
    expect(await dry(["keys", "create", "--tenant", "demo", "--name", "ci", "--scopes", "chat:write,models:read"])).toEqual({
      line: `POST ${base}/api-keys`,
      body: { tenant_id: "demo", name: "ci", scopes: ["chat:write", "models:read"] },
    });
    expect(await dry(["models", "update", "mdl_1", "--disabled", "--context-window", "8192"])).toEqual({ line: `PATCH ${base}/models/mdl_1`, body: { context_window: 8192, enabled: false } });
    expect(await dry(["audit", "list", "--tenant", "t", "--action", "secret.*", "--before-id", "40"])).toEqual({ line: `GET ${base}/audit?tenant_id=t&action=secret.*&before_id=40`, body: undefined });
    expect(await dry(["usage", "report", "--group-by", "model,tenant", "--csv"])).toEqual({ line: `GET ${base}/usage?group_by=model%2Ctenant&format=csv`, body: undefined });
    expect(await dry(["usage", "set-retention", "--tenant", "t", "--forever"])).toEqual({ line: `PUT ${base}/usage/retention`, body: { tenant_id: "t", days: null } });
    expect(await dry(["routes", "rollback", "3", "--tenant", "t"])).toEqual({ line: `POST ${base}/router-config/rollback`, body: { tenant_id: "t", version: 3 } });
    expect(await dry(["pairings", "approve", "ABCD1234", "--tenant", "t"])).toEqual({ line: `POST ${base}/pairings/approve`, body: { tenant_id: "t", code: "ABCD1234" } });
    expect(await dry(["pairings", "deny", "ABCD1234", "--tenant", "t"])).toEqual({ line: `POST ${base}/pairings/deny`, body: { tenant_id: "t", code: "ABCD1234" } });
    expect(await dry(["secrets", "delete", "openai", "--tenant", "t"])).toEqual({ line: `DELETE ${base}/secrets/openai?tenant_id=t`, body: undefined });
    expect(await dry(["tenants", "revoke", "t"])).toEqual({ line: `POST ${base}/tenants/t/revoke`, body: undefined });
    expect((await dry(["--target-region", "eu", "tenants", "list"])).line).toBe(`GET ${base}/tenants (X-EdgeClaw-Region: eu)`);
  });

  it("URL-encodes session keys and dead-letter ids, and wants --yes before an erase", async () => {
    expect((await run(["sessions", "erase", "t/agt_1/hook/chn_1/dm:p"])).code).toBe(2);
    expect((await dry(["sessions", "erase", "t/agt_1/hook/chn_1/dm:p", "--yes"])).line).toBe(`DELETE ${base}/sessions/t%2Fagt_1%2Fhook%2Fchn_1%2Fdm%3Ap`);
    expect((await dry(["dead-letters", "drop", "t/a/b/c/d#int_9"])).line).toBe(`POST ${base}/dead-letters/t%2Fa%2Fb%2Fc%2Fd%23int_9/drop`);
  });

  it("builds a job's nested schedule and action from flags, and takes a whole body from --file", async () => {
    expect((await dry(["jobs", "create", "--tenant", "t", "--every-ms", "60000", "--action", "webhook", "--webhook-url", "https://example.com/x", "--secret-ref", "vault:k", "--missed", "skip"])).body).toEqual({
      tenant_id: "t",
      missed: "skip",
      schedule: { kind: "interval", every_ms: 60000 },
      action: { kind: "webhook", url: "https://example.com/x", secret_ref: "vault:k" },
    });
    expect((await run(["jobs", "create", "--tenant", "t", "--cron", "* * * * *", "--every-ms", "1000", "--action", "record", "--dry-run"])).code).toBe(2);
    const file = await run(["agents", "create", "--file", "-", "--name", "b", "--dry-run"], JSON.stringify({ tenant_id: "t", name: "a", model: "m", system_prompt: "p" }));
    expect(JSON.parse(file.out.split("\n").slice(1).join("\n"))).toEqual({ tenant_id: "t", name: "b", model: "m", system_prompt: "p" });
    const doc = await run(["routes", "edit", "--tenant", "t", "--file", "-", "--dry-run"], JSON.stringify({ routes: {} }));
    expect(JSON.parse(doc.out.split("\n").slice(1).join("\n"))).toEqual({ config: { routes: {} }, tenant_id: "t" });
  });

  it("asks for as long a signing secret as the Worker does (a copy, kept off the start-up path)", () => {
    expect(MIN_SECRET_LENGTH).toBe(WORKER_MIN_SECRET_LENGTH);
  });

  it("mints a token from the local secret only for a gateway on this machine, never for a --url elsewhere", async () => {
    let sent = false;
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async () => {
      sent = true;
      throw new Error("no request may leave");
    }) as typeof fetch;
    try {
      const out: string[] = [];
      const err: string[] = [];
      const io: Io = { out: (t) => out.push(t), err: (t) => err.push(t), env: { ADMIN_JWT_SECRET: "x".repeat(40) }, cwd: root, readStdin: async () => "", isStdinTty: false };
      const code = await main(["--url", "https://gateway.example.com", "tenants", "list"], io);
      expect(code).toBe(2);
      expect(err.join("\n")).toContain("no admin token for https://gateway.example.com");
      expect(sent).toBe(false);
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  it("never takes a secret's value as an argument or an option", async () => {
    expect((await run(["secrets", "set", "openai", "sk-live-value", "--tenant", "t"])).code).toBe(2);
    const opt = await run(["secrets", "set", "openai", "--value", "sk-live-value"]);
    expect(opt.code).toBe(2);
    expect(opt.err).toContain("unknown option '--value'");
  });
});

// Every route registered under /admin (workers/admin/index.ts and the routers it mounts), as
// METHOD /path with parameters written as ':'. Loops registering `/:id/${action}` give '*'.
function apiRoutes(): string[] {
  const index = readFileSync(join(root, "workers/admin/index.ts"), "utf8");
  const importOf = new Map<string, string>();
  for (const m of index.matchAll(/import \{([^}]+)\} from "([^"]+)"/g)) for (const name of (m[1] as string).split(",")) importOf.set(name.trim(), m[2] as string);
  const out: string[] = [];
  for (const m of index.matchAll(/admin\.(get|route)\("([^"]+)", (\w+)\)/g)) {
    const [, kind, prefix, name] = m as unknown as [string, string, string, string];
    if (kind === "get") {
      out.push(`GET ${prefix}`);
      continue;
    }
    const source = readFileSync(join(root, "workers/admin", importOf.get(name) as string), "utf8");
    for (const r of source.matchAll(/(\w+)\.(get|post|put|patch|delete)\(\s*[`"]([^`"]*)[`"]/g)) {
      if (r[1] !== name) continue;
      const path = `${prefix}${r[3] === "/" ? "" : r[3]}`.replaceAll("${action}", "*");
      out.push(`${(r[2] as string).toUpperCase()} ${normalize(path)}`);
    }
  }
  return out;
}

function normalize(path: string): string {
  return path
    .split("/")
    .map((seg) => (seg.startsWith(":") ? ":" : seg))
    .join("/");
}

// '*' (a route registered in a loop over actions) stands for any one segment.
function sameRoute(cli: string, api: string): boolean {
  const a = cli.split("/");
  const b = api.split("/");
  return a.length === b.length && a.every((seg, i) => seg === b[i] || b[i] === "*");
}

describe("coverage of the admin API", () => {
  it("has a verb for every route (an intentional gap is listed with its reason)", () => {
    const cli = new Set(resources.flatMap((r) => r.verbs.filter((v) => v.path).map((v) => `${v.method} ${normalize(v.path as string)}`)));
    // Verbs with their own run() call these.
    for (const r of ["GET /router-config", "GET /router-config/versions/:", "GET /sessions/:/export", "PUT /secrets/:", "POST /tokens/revoke"]) cli.add(r);
    const notInCli: Record<string, string> = {
      "POST /secrets": "the same as PUT /secrets/:name, which `secrets set` uses",
    };
    const routes = apiRoutes();
    expect(routes.length).toBeGreaterThan(60);
    const missing = routes.filter((r) => !notInCli[r] && ![...cli].some((c) => sameRoute(c, r)));
    expect(missing).toEqual([]);
  });
});

describe("docs/admin-cli.md", () => {
  it("has every resource and verb in its reference", () => {
    const doc = readFileSync(join(root, "docs/admin-cli.md"), "utf8");
    for (const r of resources) {
      const section = doc.split(`\n### ${r.name}`)[1]?.split("\n### ")[0];
      expect(section, r.name).toBeDefined();
      for (const v of r.verbs) expect(section, `${r.name} ${v.name}`).toContain(`| \`${v.name}\` |`);
    }
  });
});
