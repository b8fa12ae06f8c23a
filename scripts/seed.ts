// The demo data `npm start` puts in the local D1: a tenant, a provider pointing at the local
// gpu-backend, the chat model it serves and the same model as an embedding model (the
// gpu-backend embeds with the model it loaded), and the demo API key. Idempotent: running it again keeps every
// row (and any revocation made since); it only re-points what `npm start` itself controls (the
// gpu-backend's URL and model id, the demo key when EDGECLAW_API_KEY changes). Every insert or
// change gets its audit_log row, like an admin write, in the same transaction.
import { apiKeyScopes } from "../schema/admin.ts";
import { displayPrefix, hashApiKey } from "../workers/auth/api-keys.ts";

export interface SeedInput {
  apiKey: string;
  gpuBackendUrl: string; // OpenAI base URL, e.g. http://127.0.0.1:8788/v1
  upstreamModel: string; // the id the gpu-backend serves
  publicModel: string; // the name clients send
  // The name clients send to /v1/embeddings (default: `${publicModel}-embedding`).
  embeddingModel?: string;
  now?: number;
}

export const DEMO = {
  tenantId: "demo",
  providerId: "prv_demo_gpu_backend",
  modelId: "mdl_demo_default",
  embeddingModelId: "mdl_demo_embedding",
  keyId: "key_demo",
} as const;

const ACTOR = "system:npm-start";

/** The Worker secret (in .dev.vars locally) holding the gpu-backend's API key; the provider names it. */
export const GPU_BACKEND_CREDENTIAL = "PROVIDER_GPU_BACKEND_KEY";

function q(value: string | number | null): string {
  if (value === null) return "NULL";
  if (typeof value === "number") return String(value);
  return `'${value.replace(/'/g, "''")}'`;
}

interface Upsert {
  table: string;
  id: string;
  columns: Record<string, string | number | null>;
  // Columns `npm start` keeps in line with this run; everything else is left as it is.
  refresh: string[];
  action: string; // audit action prefix, e.g. "provider"
}

function upsertWithAudit(u: Upsert, now: number): string[] {
  const cols = Object.keys(u.columns);
  const values = cols.map((c) => q(u.columns[c] ?? null));
  const audit = (action: string, metadata: Record<string, unknown>, condition: string) =>
    `INSERT INTO audit_log (at, tenant_id, actor, action, target, metadata) SELECT ${now}, ${q(DEMO.tenantId)}, ${q(ACTOR)}, ${q(action)}, ${q(u.id)}, ${q(JSON.stringify(metadata))} WHERE ${condition};`;
  const statements = [
    audit(`${u.action}.create`, { seed: true }, `NOT EXISTS (SELECT 1 FROM ${u.table} WHERE id = ${q(u.id)})`),
  ];
  if (u.refresh.length > 0) {
    const changed = u.refresh.map((c) => `${c} IS NOT ${q(u.columns[c] ?? null)}`).join(" OR ");
    const metadata = Object.fromEntries(u.refresh.filter((c) => c !== "key_hash").map((c) => [c, u.columns[c]]));
    statements.push(audit(`${u.action}.update`, { seed: true, ...metadata }, `EXISTS (SELECT 1 FROM ${u.table} WHERE id = ${q(u.id)} AND (${changed}))`));
  }
  const onConflict =
    u.refresh.length > 0 ? `DO UPDATE SET ${u.refresh.map((c) => `${c} = excluded.${c}`).join(", ")}` : "DO NOTHING";
  statements.push(`INSERT INTO ${u.table} (${cols.join(", ")}) VALUES (${values.join(", ")}) ON CONFLICT(id) ${onConflict};`);
  return statements;
}

export async function seedSql(input: SeedInput): Promise<string> {
  const now = input.now ?? Date.now();
  const statements = [
    ...upsertWithAudit(
      { table: "tenants", id: DEMO.tenantId, action: "tenant", refresh: [], columns: { id: DEMO.tenantId, name: "Demo tenant", created_at: now } },
      now,
    ),
    ...upsertWithAudit(
      {
        table: "providers",
        id: DEMO.providerId,
        action: "provider",
        // credential_ref is refreshed too: state seeded before the gpu-backend had API keys gets it.
        refresh: ["base_url", "credential_ref"],
        columns: {
          id: DEMO.providerId,
          tenant_id: DEMO.tenantId,
          name: "gpu-backend",
          kind: "openai-compatible",
          base_url: input.gpuBackendUrl,
          credential_ref: GPU_BACKEND_CREDENTIAL,
          timeout_ms: null,
          created_at: now,
        },
      },
      now,
    ),
    ...modelUpsert(DEMO.modelId, input.publicModel, "chat", input, now),
    ...modelUpsert(DEMO.embeddingModelId, input.embeddingModel ?? `${input.publicModel}-embedding`, "embedding", input, now),
    ...upsertWithAudit(
      {
        table: "api_keys",
        id: DEMO.keyId,
        action: "api_key",
        refresh: ["key_hash", "prefix"],
        columns: {
          id: DEMO.keyId,
          tenant_id: DEMO.tenantId,
          name: "demo key (npm start)",
          key_hash: await hashApiKey(input.apiKey),
          prefix: displayPrefix(input.apiKey),
          scopes: JSON.stringify([...apiKeyScopes]),
          created_at: now,
          expires_at: null,
          revoked_at: null,
        },
      },
      now,
    ),
  ];
  return statements.join("\n") + "\n";
}

function modelUpsert(id: string, publicName: string, kind: "chat" | "embedding", input: SeedInput, now: number): string[] {
  return upsertWithAudit(
    {
      table: "models",
      id,
      action: "model",
      refresh: ["public_name", "upstream_model"],
      columns: {
        id,
        tenant_id: DEMO.tenantId,
        public_name: publicName,
        provider_id: DEMO.providerId,
        upstream_model: input.upstreamModel,
        kind,
        context_window: null,
        input_price_per_mtok: 0,
        output_price_per_mtok: 0,
        enabled: 1,
        created_at: now,
        updated_at: now,
      },
    },
    now,
  );
}
