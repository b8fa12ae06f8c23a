// Tenants & keys: a tenant's limits and budgets in a form. They live in the tenant's router config
// (limits.tenant, budgets.tenant; docs/router.md), so saving reads the active config, changes only
// those two objects and sends the whole config back with PUT /admin/router-config as a new
// version: the same validator as any config edit checks the numbers (its 400 names the field, e.g.
// config.limits.tenant.requests_per_min), and Models & routes can roll it back. The API has no
// compare-and-set on the base version, so the form refuses to save when the active version moved
// since the form was opened (a concurrent edit would otherwise be overwritten silently).
import { useEffect, useState } from "preact/hooks";
import { api, message } from "../api.ts";
import { Status } from "./status.tsx";

type Caps = Record<string, number>;
interface ActiveConfig {
  version: number;
  config: { limits?: { tenant?: Caps; key?: Caps }; budgets?: { tenant?: Caps; key?: Caps }; [k: string]: unknown };
}

const FIELDS = [
  { group: "limits", key: "requests_per_min", label: "Requests per minute" },
  { group: "limits", key: "tokens_per_min", label: "Tokens per minute" },
  { group: "budgets", key: "daily_usd", label: "Daily budget (USD)" },
  { group: "budgets", key: "monthly_usd", label: "Monthly budget (USD)" },
] as const;

// Empty box: no cap. Anything else goes to the API as a number (or as the text, so the API's
// validator, not this page, says what is wrong with it).
function capsFrom(form: HTMLFormElement, group: "limits" | "budgets"): Caps | undefined {
  const caps: Record<string, unknown> = {};
  for (const f of FIELDS.filter((x) => x.group === group)) {
    const raw = ((form.elements.namedItem(`cap-${f.key}`) as HTMLInputElement | null)?.value ?? "").trim();
    if (raw !== "") caps[f.key] = Number.isNaN(Number(raw)) ? raw : Number(raw);
  }
  return Object.keys(caps).length ? (caps as Caps) : undefined;
}

export function CapsEditor({ tenantId, onSaved, onCancel }: { tenantId: string; onSaved: (text: string) => void; onCancel: () => void }) {
  const [active, setActive] = useState<ActiveConfig | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.get<ActiveConfig>("/router-config", { tenant_id: tenantId }).then(setActive, (e: unknown) => setError(message(e)));
  }, [tenantId]);

  const save = async (e: Event) => {
    e.preventDefault();
    if (!active) return;
    const form = e.currentTarget as HTMLFormElement;
    setError(null);
    try {
      const now = await api.get<ActiveConfig>("/router-config", { tenant_id: tenantId });
      if (now.version !== active.version) {
        setActive(now);
        throw new Error(`The router config changed (version ${active.version} → ${now.version}) while this form was open; the form now shows version ${now.version}. Check the values and save again.`);
      }
      const config = { ...now.config };
      for (const group of ["limits", "budgets"] as const) {
        const next = { ...(config[group] ?? {}) };
        const caps = capsFrom(form, group);
        if (caps) next.tenant = caps;
        else delete next.tenant;
        if (Object.keys(next).length) config[group] = next;
        else delete config[group];
      }
      const saved = await api.put<{ version: number }>("/router-config", { tenant_id: tenantId, config, comment: "tenant limits and budgets (console)" });
      onSaved(`Limits and budgets of ${tenantId} saved as router config version ${saved.version}.`);
    } catch (err) {
      setError(message(err));
    }
  };

  const current = (group: "limits" | "budgets", key: string) => active?.config[group]?.tenant?.[key];
  return (
    <form class="filters" onSubmit={save} aria-labelledby="caps-h" data-testid="caps-editor">
      <h3 id="caps-h">Limits and budgets of {tenantId}</h3>
      <Status error={error} />
      {!active ? (
        !error && <p role="status">Loading…</p>
      ) : (
        <>
          {FIELDS.map((f) => (
            <div key={`${active.version}-${f.key}`}>
              <label for={`cap-${f.key}`}>{f.label}</label>
              <input id={`cap-${f.key}`} name={`cap-${f.key}`} inputMode="decimal" defaultValue={current(f.group, f.key)?.toString() ?? ""} placeholder="none" />
            </div>
          ))}
          <button type="submit">Save limits and budgets</button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
          <p class="note">
            An empty box removes that cap. Saved as a new version of the router config (version {active.version} now); per-key limits and budgets stay on Models &amp; routes.
          </p>
        </>
      )}
    </form>
  );
}
