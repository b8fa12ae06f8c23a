// Tenants & keys: list, create and revoke through /admin/tenants and /admin/api-keys. Creating or
// revoking a tenant is owner-only; keys may be written by the owner or the tenant's admin; a
// viewer sees the buttons disabled (and the API would refuse with 403 read_only).
import { useEffect, useState } from "preact/hooks";
import { api, canWrite, type Session } from "../api.ts";
import { CapsEditor } from "./caps-editor.tsx";
import { CapsCell, Secrets, useTenantCaps } from "./tenant-extras.tsx";
import { Head } from "./table.tsx";
import { Status } from "./status.tsx";

interface Tenant {
  id: string;
  name: string;
  region: string | null;
  created_at: string;
  revoked_at: string | null;
}
interface ApiKey {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

const READ_ONLY = "Your role is read-only";
const OWNER_ONLY = "Only an owner may do this";

function field(form: HTMLFormElement, name: string): string {
  return ((form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null)?.value ?? "").trim();
}

export function Tenants({ session }: { session: Session }) {
  const [tenants, setTenants] = useState<Tenant[]>([]);
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [newKey, setNewKey] = useState<{ name: string; key: string } | null>(null);
  const owner = session.role === "owner";
  const writer = canWrite(session);

  const reload = async () => {
    try {
      const [t, k] = await Promise.all([api.get<{ data: Tenant[] }>("/tenants", { limit: "500" }), api.get<{ data: ApiKey[] }>("/api-keys", { limit: "500" })]);
      setTenants(t.data);
      setKeys(k.data);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  useEffect(() => void reload(), []);

  const act = async (what: () => Promise<unknown>) => {
    setError(null);
    try {
      await what();
      await reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const createTenant = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const id = field(form, "tenant-id");
    void act(async () => {
      await api.post("/tenants", { name: field(form, "tenant-name"), ...(id ? { id } : {}) });
      form.reset();
    });
  };
  const createKey = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const tenant = field(form, "key-tenant");
    const name = field(form, "key-name");
    void act(async () => {
      const created = await api.post<ApiKey & { key: string }>("/api-keys", { name, ...(owner ? { tenant_id: tenant } : {}) });
      setNewKey({ name: created.name, key: created.key });
      form.reset();
    });
  };
  const revoke = (what: string, path: string) => {
    if (!window.confirm(`Revoke ${what}? This cannot be undone.`)) return;
    void act(() => api.post(path, {}));
  };

  const live = tenants.filter((t) => t.revoked_at === null);
  const [capsFor, setCapsFor] = useState<string | null>(null);
  const [capsGeneration, setCapsGeneration] = useState(0);
  const [capsNotice, setCapsNotice] = useState<string | null>(null);
  const caps = useTenantCaps(live.map((t) => t.id), capsGeneration);
  return (
    <>
      <Status error={error} />
      <section aria-labelledby="tenants-h">
        <h2 id="tenants-h">Tenants</h2>
        <form class="inline" onSubmit={createTenant}>
          <label for="tenant-name">Name</label>
          <input id="tenant-name" name="tenant-name" required maxLength={200} disabled={!owner} />
          <label for="tenant-id">Id (optional)</label>
          <input id="tenant-id" name="tenant-id" maxLength={63} disabled={!owner} />
          <button type="submit" disabled={!owner} title={owner ? undefined : OWNER_ONLY}>
            Create tenant
          </button>
        </form>
        <table data-testid="tenants">
          <Head cols={["Id", "Name", "Region", "Created", "Status", "Limits and budgets (router config)"]} actions />
          <tbody>
            {tenants.map((t) => (
              <tr key={t.id}>
                <td>{t.id}</td>
                <td>{t.name}</td>
                <td>{t.region ?? "–"}</td>
                <td>{t.created_at}</td>
                <td>{t.revoked_at ? `revoked ${t.revoked_at}` : "active"}</td>
                <td data-testid={`caps-${t.id}`}>{t.revoked_at ? "–" : <CapsCell caps={caps[t.id]} />}</td>
                <td class="actions">
                  <button type="button" disabled={!writer || t.revoked_at !== null} title={writer ? undefined : "Your role is read-only"} onClick={() => (setCapsNotice(null), setCapsFor(t.id))}>
                    Edit limits<span class="sr-only"> of {t.id}</span>
                  </button>
                  <button type="button" disabled={!owner || t.revoked_at !== null} title={owner ? undefined : OWNER_ONLY} onClick={() => revoke(`tenant ${t.id}`, `/tenants/${encodeURIComponent(t.id)}/revoke`)}>
                    Revoke<span class="sr-only"> tenant {t.id}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {capsNotice && (
          <p role="status" class="ok">
            {capsNotice}
          </p>
        )}
        {capsFor && (
          <CapsEditor
            key={capsFor}
            tenantId={capsFor}
            onCancel={() => setCapsFor(null)}
            onSaved={(text) => {
              setCapsFor(null);
              setCapsGeneration((g) => g + 1);
              setCapsNotice(text);
            }}
          />
        )}
      </section>
      <section aria-labelledby="keys-h">
        <h2 id="keys-h">API keys</h2>
        <form class="inline" onSubmit={createKey}>
          {owner && (
            <>
              <label for="key-tenant">Tenant</label>
              <select id="key-tenant" name="key-tenant" required>
                {live.map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.id}
                  </option>
                ))}
              </select>
            </>
          )}
          <label for="key-name">Key name</label>
          <input id="key-name" name="key-name" required maxLength={200} disabled={!writer} />
          <button type="submit" disabled={!writer} title={writer ? undefined : READ_ONLY}>
            Create key
          </button>
        </form>
        {newKey && (
          <div class="new-key" role="status">
            <p>
              Key <strong>{newKey.name}</strong> created. Copy it now: it is shown only once.
            </p>
            <code data-testid="new-key">{newKey.key}</code>
            <button type="button" onClick={() => setNewKey(null)}>
              Done
            </button>
          </div>
        )}
        <table data-testid="keys">
          <Head cols={["Tenant", "Name", "Prefix", "Scopes", "Created", "Status"]} actions />
          <tbody>
            {keys.map((k) => (
              <tr key={k.id}>
                <td>{k.tenant_id}</td>
                <td>{k.name}</td>
                <td>
                  <code>{k.prefix}…</code>
                </td>
                <td>{k.scopes.join(", ")}</td>
                <td>{k.created_at}</td>
                <td>{k.revoked_at ? `revoked ${k.revoked_at}` : k.expires_at ? `expires ${k.expires_at}` : "active"}</td>
                <td>
                  <button type="button" disabled={!writer || k.revoked_at !== null} title={writer ? undefined : READ_ONLY} onClick={() => revoke(`key ${k.name}`, `/api-keys/${encodeURIComponent(k.id)}/revoke`)}>
                    Revoke<span class="sr-only"> key {k.name}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <Secrets />
      <p class="note">Limits and budgets are part of each tenant's router config: change them on Models &amp; routes.</p>
    </>
  );
}
