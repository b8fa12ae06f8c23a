// `npm run admin -- token` (scripts/admin.ts), run as a user would: stdout is the token and
// nothing else, its id and expiry go to stderr, and the lifetime limit holds before signing.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { verifyAdminToken } from "../../workers/auth/admin-token.ts";

const SECRET = "script-test-secret-0123456789abcdef0123";

function mint(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ["scripts/admin.ts", "token", ...args], {
    encoding: "utf8",
    env: { ...process.env, ADMIN_JWT_SECRET: SECRET, EDGECLAW_DEV_VARS: "/nonexistent/.dev.vars", ...env },
  });
}

describe("npm run admin -- token", () => {
  it("prints only the token on stdout, and its jti and exp on stderr", async () => {
    const res = mint(["--role", "admin", "--tenant", "demo", "--ttl", "600"]);
    expect(res.status).toBe(0);
    const lines = res.stdout.split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    const claims = await verifyAdminToken(SECRET, lines[0]!);
    expect(claims).toMatchObject({ role: "admin", tenant: "demo", jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) });
    expect(claims!.exp - claims!.iat).toBe(600);
    expect(res.stderr).toContain(`jti=${claims!.jti} exp=${claims!.exp}`);
  });

  it("refuses a lifetime above ADMIN_TOKEN_MAX_TTL_S and prints no token", () => {
    const res = mint(["--role", "owner", "--ttl", "3601"], { ADMIN_TOKEN_MAX_TTL_S: "3600" });
    expect(res.status).toBe(2);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain("ADMIN_TOKEN_MAX_TTL_S");
    expect(mint(["--role", "owner", "--ttl", String(31 * 24 * 3600)]).status).toBe(2);
  });
});
