// `npm run admin -- token --role owner|admin|viewer [--tenant ID] [--region NAME] [--sub NAME] [--ttl SECONDS]`
// Mints an admin JWT locally, signed with ADMIN_JWT_SECRET from the environment or from the
// local secrets file (.dev.vars, or EDGECLAW_DEV_VARS), and prints it on stdout (nothing else, so
// `TOKEN=$(npm run -s admin -- token ...)` works). Its id (jti) and expiry go to stderr: keep
// them to revoke it later (POST /admin/tokens/revoke {jti, exp}). The lifetime may not exceed
// ADMIN_TOKEN_MAX_TTL_S (environment, else 30 days), which the Worker enforces too.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_ADMIN_TOKEN_MAX_TTL_S, regionName, roles, type AdminClaims } from "../schema/admin.ts";
import { MIN_SECRET_LENGTH, mintAdminToken } from "../workers/auth/admin-token.ts";
import { readDevVars } from "./dev-vars.ts";

const USAGE = "usage: npm run admin -- token --role owner|admin|viewer [--tenant ID] [--region NAME] [--sub NAME] [--ttl SECONDS]";

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    role: { type: "string" },
    tenant: { type: "string" },
    region: { type: "string" },
    sub: { type: "string", default: process.env.USER ?? "local-admin" },
    ttl: { type: "string", default: "3600" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help || positionals[0] !== "token" || positionals.length !== 1) fail(USAGE);
const role = values.role as AdminClaims["role"];
if (!roles.includes(role)) fail(`--role must be one of ${roles.join(", ")}\n${USAGE}`);
if (role === "admin" && !values.tenant) fail("an admin token needs --tenant (the tenant it may manage)");
if (role === "owner" && values.tenant) fail("an owner token is deployment-wide: leave out --tenant");
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) fail("--ttl must be a positive number of seconds");
const envMax = Number(process.env.ADMIN_TOKEN_MAX_TTL_S);
const maxTtl = Number.isInteger(envMax) && envMax > 0 ? envMax : DEFAULT_ADMIN_TOKEN_MAX_TTL_S;
if (ttl > maxTtl) fail(`--ttl may not exceed ${maxTtl} seconds (ADMIN_TOKEN_MAX_TTL_S): the gateway refuses longer-lived tokens`);

// INIT_CWD: npm runs scripts from the package root; relative paths mean where the user typed.
const root = process.env.INIT_CWD ?? process.cwd();
const devVarsPath = resolve(root, process.env.EDGECLAW_DEV_VARS ?? ".dev.vars");
const secret = process.env.ADMIN_JWT_SECRET ?? readDevVars(devVarsPath).ADMIN_JWT_SECRET;
if (!secret || secret.length < MIN_SECRET_LENGTH) {
  fail(`No ADMIN_JWT_SECRET (>= ${MIN_SECRET_LENGTH} characters) in the environment or ${devVarsPath}: run \`npm start\` once to create it.`);
}

// --region binds the token to one regional deployment (docs/deploy.md): the global entry forwards
// it there, and no other region serves it.
const claims: AdminClaims = { sub: values.sub, role, ...(values.tenant ? { tenant: values.tenant } : {}), ...(values.region ? { region: values.region } : {}) };
if (values.region !== undefined && !regionName.safeParse(values.region).success) fail("--region must be a region name such as eu");
const minted = await mintAdminToken(secret, claims, ttl);
console.error(`jti=${minted.jti} exp=${minted.exp} (${new Date(minted.exp * 1000).toISOString()})`);
console.log(minted.token);
