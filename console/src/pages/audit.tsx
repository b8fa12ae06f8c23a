// Audit: GET /admin/audit, newest first, with its filters (tenant, action, actor, kind, since)
// and paging by before_id. Tenant-scoped sessions see their own tenant's rows only.
import { useEffect, useState } from "preact/hooks";
import { api, type Session } from "../api.ts";
import { Head } from "./table.tsx";
import { Status } from "./status.tsx";

interface AuditRow {
  id: number;
  at: string;
  tenant_id: string | null;
  kind: "admin" | "data";
  actor: string;
  action: string;
  target: string;
  metadata: unknown;
}
interface AuditPage {
  data: AuditRow[];
  next_before_id: number | null;
}
type Filters = Record<string, string | undefined>;

const PAGE = "50";

export function Audit({ session }: { session: Session }) {
  const [rows, setRows] = useState<AuditRow[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [filters, setFilters] = useState<Filters>({});
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);

  const load = async (f: Filters, before?: number) => {
    setLoading(true);
    setError(null);
    try {
      const page = await api.get<AuditPage>("/audit", { ...f, limit: PAGE, before_id: before === undefined ? undefined : String(before) });
      setRows((old) => (before === undefined ? page.data : [...old, ...page.data]));
      setNext(page.next_before_id);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => void load({}), []);

  const submit = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const value = (name: string) => ((form.elements.namedItem(name) as HTMLInputElement | null)?.value ?? "").trim() || undefined;
    const since = value("since");
    const f: Filters = {
      tenant_id: value("tenant_id"),
      action: value("action"),
      actor: value("actor"),
      kind: value("kind"),
      since: since ? new Date(since).toISOString() : undefined,
    };
    setFilters(f);
    void load(f);
  };

  return (
    <>
      <form class="filters" onSubmit={submit} aria-label="Audit filters">
        {session.tenant === null && (
          <div>
            <label for="f-tenant">Tenant</label>
            <input id="f-tenant" name="tenant_id" maxLength={64} />
          </div>
        )}
        <div>
          <label for="f-action">Action (exact, or a prefix ending in .)</label>
          <input id="f-action" name="action" maxLength={100} placeholder="tenant." />
        </div>
        <div>
          <label for="f-actor">Actor</label>
          <input id="f-actor" name="actor" maxLength={200} placeholder="owner:admin-cli" />
        </div>
        <div>
          <label for="f-kind">Kind</label>
          <select id="f-kind" name="kind">
            <option value="">all</option>
            <option value="admin">admin writes</option>
            <option value="data">data-plane events</option>
          </select>
        </div>
        <div>
          <label for="f-since">Since</label>
          <input id="f-since" name="since" type="datetime-local" />
        </div>
        <button type="submit">Filter</button>
      </form>
      <Status error={error} />
      <table data-testid="audit">
        <Head cols={["Time", "Tenant", "Kind", "Actor", "Action", "Target", "Details"]} />
        <tbody>
          {rows.map((r) => (
            <tr key={r.id}>
              <td>{r.at}</td>
              <td>{r.tenant_id ?? "–"}</td>
              <td>{r.kind}</td>
              <td>{r.actor}</td>
              <td>{r.action}</td>
              <td class="wrap">{r.target}</td>
              <td class="wrap">
                <code>{JSON.stringify(r.metadata)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!loading && rows.length === 0 && <p>No audit rows match.</p>}
      {next !== null && (
        <button type="button" disabled={loading} onClick={() => void load(filters, next)}>
          Older rows
        </button>
      )}
    </>
  );
}
