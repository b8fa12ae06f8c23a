// drizzle-kit generates the D1 SQL migrations offline from schema/db.ts and schema/router.ts; they are applied with
// `wrangler d1 migrations apply edgeclaw --local` (drizzle-kit's d1-http push would need the
// Cloudflare API), and by the Workers-pool tests through applyD1Migrations.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: ["./schema/db.ts", "./schema/router.ts", "./schema/agents.ts", "./schema/vault.ts"],
  out: "./schema/migrations",
});
