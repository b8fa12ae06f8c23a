// Admin tokens: minted locally (signed with ADMIN_JWT_SECRET from the environment or the local
// secrets file; nothing is sent) and revoked through POST /admin/tokens/revoke (workers/admin/tokens.ts).
// `npm run -s admin -- token --role owner` prints the token and nothing else on stdout (so
// `TOKEN=$(...)` works); its id (jti) and expiry go to stderr: keep them to revoke it later.
import type { AdminClaims } from "../../../schema/admin.ts";
import { devVarsPath, localSecret, MIN_SECRET_LENGTH } from "../auth.ts";
import { UsageError, type Resource } from "../spec.ts";

const HINT = "npm run admin -- token --help";

export const tokens: Resource = {
  name: "tokens",
  aliases: ["token"],
  summary: "admin tokens: mint one locally (`token --role ...`), revoke one",
  defaultVerb: "mint",
  verbs: [
    {
      name: "mint",
      summary: "sign an admin token with the local ADMIN_JWT_SECRET; stdout is the token only",
      flags: [
        { name: "role", required: true, help: "owner (every tenant), admin (one tenant) or viewer (read only)", meta: "ROLE" },
        { name: "tenant", help: "the tenant an admin or viewer token is scoped to (a viewer without one sees every tenant)", meta: "ID" },
        { name: "region", help: "bind the token to one regional deployment", meta: "NAME" },
        { name: "sub", help: "who holds it (default $USER)", meta: "NAME" },
        { name: "ttl", help: "lifetime in seconds (default 3600; at most ADMIN_TOKEN_MAX_TTL_S, else 30 days)", meta: "SECONDS" },
      ],
      notes: [
        "The secret: ADMIN_JWT_SECRET from the environment, else the local .dev.vars (EDGECLAW_DEV_VARS).",
        "Use npm's -s so that npm prints nothing before it: TOKEN=$(npm run -s admin -- token --role owner)",
      ],
      examples: ["-s token --role owner", "-s token --role admin --tenant demo --ttl 600", "-s token --role viewer --tenant demo"],
      run: async (ctx) => {
        // Loaded here, not at start-up: zod and jose are most of a command's start time.
        const { DEFAULT_ADMIN_TOKEN_MAX_TTL_S, regionName, roles } = await import("../../../schema/admin.ts");
        const { mintAdminToken } = await import("../../../workers/auth/admin-token.ts");
        const v = ctx.values;
        const role = v.role as AdminClaims["role"] | undefined;
        if (role === undefined || !roles.includes(role)) throw new UsageError(`--role must be one of ${roles.join(", ")}`, HINT);
        const tenant = v.tenant as string | undefined;
        if (role === "admin" && !tenant) throw new UsageError("an admin token needs --tenant (the tenant it may manage)", HINT);
        if (role === "owner" && tenant) throw new UsageError("an owner token is deployment-wide: leave out --tenant", HINT);
        const ttl = Number(v.ttl ?? "3600");
        if (!Number.isInteger(ttl) || ttl <= 0) throw new UsageError("--ttl must be a positive number of seconds", HINT);
        const envMax = Number(ctx.io.env.ADMIN_TOKEN_MAX_TTL_S);
        const maxTtl = Number.isInteger(envMax) && envMax > 0 ? envMax : DEFAULT_ADMIN_TOKEN_MAX_TTL_S;
        if (ttl > maxTtl) throw new UsageError(`--ttl may not exceed ${maxTtl} seconds (ADMIN_TOKEN_MAX_TTL_S): the gateway refuses longer-lived tokens`, HINT);
        const region = v.region as string | undefined;
        if (region !== undefined && !regionName.safeParse(region).success) throw new UsageError("--region must be a region name such as eu", HINT);
        const secret = localSecret(ctx.io);
        if (!secret) throw new UsageError(`no ADMIN_JWT_SECRET (>= ${MIN_SECRET_LENGTH} characters) in the environment or ${devVarsPath(ctx.io)}`, "run `npm start` once to create it");
        const claims: AdminClaims = { sub: (v.sub as string | undefined) ?? ctx.io.env.USER ?? "local-admin", role, ...(tenant ? { tenant } : {}), ...(region ? { region } : {}) };
        const minted = await mintAdminToken(secret, claims, ttl);
        ctx.io.err(`jti=${minted.jti} exp=${minted.exp} (${new Date(minted.exp * 1000).toISOString()})`);
        ctx.io.out(minted.token);
      },
    },
    {
      name: "revoke",
      summary: "revoke an admin token before it expires",
      flags: [
        { name: "jti", help: "owner: the token's id (printed on stderr when minted), with --exp", meta: "ID" },
        { name: "exp", help: "the token's expiry (epoch seconds), with --jti", meta: "EPOCH" },
        { name: "stdin", type: "boolean", help: "read the token to revoke from stdin" },
        { name: "self", type: "boolean", help: "revoke the token this command runs with (log out)" },
      ],
      notes: ["An owner may revoke any token; a tenant admin those of its own tenant; anyone its own (--self)."],
      examples: ["tokens revoke --jti Yx3... --exp 1767225600", "tokens revoke --stdin < old-token.txt", "tokens revoke --self --token \"$TOKEN\""],
      run: async (ctx) => {
        const v = ctx.values;
        const ways = [v.jti !== undefined || v.exp !== undefined, v.stdin === true, v.self === true].filter(Boolean).length;
        if (ways !== 1) throw new UsageError("give one of --jti ID --exp EPOCH, --stdin or --self", "npm run admin -- tokens revoke --help");
        let body: Record<string, unknown>;
        if (v.stdin) body = { token: (await ctx.io.readStdin()).trim() };
        else if (v.self) {
          const own = (v.token as string | undefined) ?? ctx.io.env.EDGECLAW_ADMIN_TOKEN;
          if (!own) throw new UsageError("--self revokes the token given with --token or EDGECLAW_ADMIN_TOKEN; there is none", "npm run admin -- tokens revoke --help");
          body = { token: own };
        } else {
          const exp = Number(v.exp);
          if (typeof v.jti !== "string" || !Number.isInteger(exp)) throw new UsageError("--jti and --exp (epoch seconds) go together", "npm run admin -- tokens revoke --help");
          body = { jti: v.jti, exp };
        }
        ctx.print(await ctx.api("POST", "/tokens/revoke", { body }));
      },
    },
  ],
};
