// The Tenants page's read-only extras: each tenant's limits and budgets as its active router
// config sets them (GET /admin/router-config, one request per tenant, the first 50 tenants), and
// the vault's secret NAMES (GET /admin/secrets: the API never returns a value). Limits and budgets
// are changed in caps-editor.tsx (a form that writes a new router config version); secrets from
// the CLI, whose `secrets set` reads the value from stdin (a browser form would put it in the page).
import { useEffect, useState } from "preact/hooks";
import { api, message } from "../api.ts";
import { Head } from "./table.tsx";
import { Status } from "./status.tsx";

interface Secret {
  tenant_id: string;
  name: string;
  ref: string;
  key_id: string;
  created_at: string;
  updated_at: string;
  rotated_at: string | null;
}
type Caps = Record<string, number>;
interface RouterCaps {
  limits?: { tenant?: Caps; key?: Caps };
  budgets?: { tenant?: Caps; key?: Caps };
}

const MAX_TENANTS = 50;

function capsText(caps: Caps | undefined): string {
  const entries = Object.entries(caps ?? {});
  return entries.length ? entries.map(([k, v]) => `${k.replace(/_/g, " ")} ${v}`).join(", ") : "none";
}

// tenant id -> its active config's limits and budgets (or why they could not be read).
// `generation` changes when a save should be read back.
export function useTenantCaps(tenantIds: string[], generation = 0): Record<string, RouterCaps | string> {
  const [caps, setCaps] = useState<Record<string, RouterCaps | string>>({});
  const wanted = tenantIds.slice(0, MAX_TENANTS).join(",");
  useEffect(() => {
    if (!wanted) return;
    let live = true;
    void Promise.all(
      wanted.split(",").map(async (id) => {
        try {
          const r = await api.get<{ config: RouterCaps }>("/router-config", { tenant_id: id });
          return [id, r.config] as const;
        } catch (e) {
          return [id, message(e)] as const;
        }
      }),
    ).then((pairs) => live && setCaps(Object.fromEntries(pairs)));
    return () => {
      live = false;
    };
  }, [wanted, generation]);
  return caps;
}

export function CapsCell({ caps }: { caps: RouterCaps | string | undefined }) {
  if (caps === undefined) return <>…</>;
  if (typeof caps === "string") return <>{caps}</>;
  return (
    <>
      limits: {capsText(caps.limits?.tenant)}; budgets: {capsText(caps.budgets?.tenant)}
    </>
  );
}

export function Secrets() {
  const [secrets, setSecrets] = useState<Secret[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.get<{ data: Secret[] }>("/secrets", { limit: "500" }).then(
      (r) => setSecrets(r.data),
      (e: unknown) => setError(message(e)),
    );
  }, []);
  return (
    <section aria-labelledby="secrets-h">
      <h2 id="secrets-h">Vault secrets (names only)</h2>
      <Status error={error} />
      {secrets?.length === 0 && <p>No vault secrets.</p>}
      <table data-testid="secrets">
        <Head cols={["Tenant", "Name", "Reference", "Key id", "Updated", "Rotated"]} />
        <tbody>
          {(secrets ?? []).map((s) => (
            <tr key={`${s.tenant_id}/${s.name}`}>
              <td>{s.tenant_id}</td>
              <td>{s.name}</td>
              <td>
                <code>{s.ref}</code>
              </td>
              <td>{s.key_id}</td>
              <td>{s.updated_at}</td>
              <td>{s.rotated_at ?? "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="note">
        Values are never shown or sent to this page. Set one with <code>printf %s "$VALUE" | npm run -s admin -- secrets set NAME --tenant ID</code> (docs/admin-cli.md).
      </p>
    </section>
  );
}
