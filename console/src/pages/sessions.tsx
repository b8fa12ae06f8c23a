// Sessions: the D1 index of sessions that ran a turn (GET /admin/sessions, filtered by tenant on
// the server and by any text in the key, agent or channel here, since the API has no text
// search), one session's history from its export (GET /admin/sessions/{key}/export), the export
// as a JSON download, erase (DELETE, after typing the key), and the dead letters
// (GET /admin/dead-letters) with retry and drop. A viewer sees everything with writes disabled.
import { useEffect, useState } from "preact/hooks";
import { api, canWrite, message, runner, type Session } from "../api.ts";
import { Head } from "./table.tsx";
import { Status } from "./status.tsx";

interface SessionRow {
  key: string;
  tenant_id: string;
  agent_id: string;
  channel: string;
  account_id: string;
  created_at: string;
}
interface HistoryRow {
  seq: number;
  role: string;
  content: string;
  tokens: number;
  at: number;
}
interface Exported {
  key: string | null;
  agent_id: string | null;
  created_at: number | null;
  last_active: number | null;
  model_used: string | null;
  paired: boolean;
  history: HistoryRow[];
  inbox: unknown[];
  outbox: { state: string }[];
  snapshots: unknown[];
}
interface DeadLetter {
  id: string;
  tenant_id: string;
  session_key: string;
  intent_id: string;
  channel: string;
  attempts: number;
  last_error: string | null;
  created_at: string;
}

const READ_ONLY = "Your role is read-only";
const when = (ms: number | null) => (ms ? new Date(ms).toISOString() : "–");

// A download made in the page (no second request, no server-side file): a Blob URL on a link
// with the download attribute, revoked once clicked.
function download(name: string, data: unknown): void {
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function fileName(key: string): string {
  return `session-${key.replace(/[^A-Za-z0-9_.-]/g, "_")}.json`;
}

export function Sessions({ session }: { session: Session }) {
  const [rows, setRows] = useState<SessionRow[]>([]);
  const [dead, setDead] = useState<DeadLetter[]>([]);
  const [tenant, setTenant] = useState("");
  const [search, setSearch] = useState("");
  const [open, setOpen] = useState<{ key: string; data: Exported } | null>(null);
  const [confirm, setConfirm] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const writer = canWrite(session);

  const reload = async (t = tenant) => {
    try {
      const q = { tenant_id: t || undefined, limit: "500" };
      const [s, d] = await Promise.all([api.get<{ data: SessionRow[] }>("/sessions", q), api.get<{ data: DeadLetter[] }>("/dead-letters", q)]);
      setRows(s.data);
      setDead(d.data);
    } catch (e) {
      setError(message(e));
    }
  };
  useEffect(() => void reload(), []);

  const act = runner(reload, setError, setNotice);
  const show = (key: string) =>
    act(async () => {
      const data = await api.get<Exported>(`/sessions/${encodeURIComponent(key)}/export`);
      setOpen({ key, data });
      setConfirm("");
      return `Opened ${key}.`;
    });
  const erase = () =>
    act(async () => {
      const key = open!.key;
      await api.del(`/sessions/${encodeURIComponent(key)}`);
      setOpen(null);
      setConfirm("");
      return `Session ${key} erased.`;
    });
  const deadAction = (d: DeadLetter, action: "retry" | "drop") =>
    act(async () => {
      const r = await api.post<{ found: boolean }>(`/dead-letters/${encodeURIComponent(d.id)}/${action}`, {});
      return `${action === "retry" ? "Retried" : "Dropped"} ${d.id}${r.found ? "" : " (it was no longer dead)"}.`;
    });

  const needle = search.trim().toLowerCase();
  const shown = needle ? rows.filter((r) => `${r.key} ${r.agent_id} ${r.channel} ${r.account_id}`.toLowerCase().includes(needle)) : rows;
  const filter = (e: Event) => {
    e.preventDefault();
    void reload(tenant);
  };
  return (
    <>
      <Status error={error} notice={notice} />
      <form class="filters" onSubmit={filter}>
        {session.tenant === null && (
          <div>
            <label for="s-tenant">Tenant</label>
            <input id="s-tenant" value={tenant} onInput={(e) => setTenant(e.currentTarget.value)} maxLength={64} />
          </div>
        )}
        <div>
          <label for="s-search">Search (key, agent, channel, account)</label>
          <input id="s-search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} maxLength={200} />
        </div>
        <button type="submit">Refresh</button>
      </form>
      <section aria-labelledby="sessions-h">
        <h2 id="sessions-h">Sessions</h2>
        {shown.length === 0 && <p>No sessions{needle ? " match" : " yet: a session appears after its first turn"}.</p>}
        <table data-testid="sessions">
          <Head cols={["Key", "Tenant", "Agent", "Channel", "Created"]} actions />
          <tbody>
            {shown.map((r) => (
              <tr key={r.key}>
                <td class="wrap">{r.key}</td>
                <td>{r.tenant_id}</td>
                <td>{r.agent_id}</td>
                <td>{r.channel}</td>
                <td>{r.created_at}</td>
                <td>
                  <button type="button" onClick={() => void show(r.key)}>
                    Open<span class="sr-only"> session {r.key}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {open && (
        <section aria-labelledby="open-h" data-testid="open-session">
          <h2 id="open-h">Session {open.key}</h2>
          <dl class="cards">
            <div>
              <dt>Messages</dt>
              <dd>{open.data.history.length}</dd>
            </div>
            <div>
              <dt>Outbox dead</dt>
              <dd>{open.data.outbox.filter((o) => o.state === "dead").length}</dd>
            </div>
            <div>
              <dt>Paired</dt>
              <dd>{open.data.paired ? "yes" : "no"}</dd>
            </div>
            <div>
              <dt>Last active</dt>
              <dd class="small">{when(open.data.last_active)}</dd>
            </div>
          </dl>
          <p>
            Agent {open.data.agent_id ?? "–"}, model {open.data.model_used ?? "–"}, {open.data.snapshots.length} snapshot(s).{" "}
            <button type="button" onClick={() => download(fileName(open.key), open.data)}>
              Export JSON
            </button>
          </p>
          <table data-testid="history">
            <caption class="sr-only">History</caption>
            <Head cols={["#", "Role", "Content", "Tokens", "At"]} />
            <tbody>
              {open.data.history.map((h) => (
                <tr key={h.seq}>
                  <td>{h.seq}</td>
                  <td>{h.role}</td>
                  <td class="wrap">{h.content}</td>
                  <td>{h.tokens}</td>
                  <td>{when(h.at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              void erase();
            }}
          >
            <label for="erase-confirm">Type the session key to erase it for good</label>
            <input id="erase-confirm" value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} disabled={!writer} maxLength={1024} />
            <button type="submit" disabled={!writer || confirm !== open.key} title={writer ? undefined : READ_ONLY}>
              Erase session
            </button>
          </form>
        </section>
      )}
      <section aria-labelledby="dead-h">
        <h2 id="dead-h">Dead letters</h2>
        {dead.length === 0 && <p>No dead letters.</p>}
        <table data-testid="dead-letters">
          <Head cols={["Id", "Channel", "Attempts", "Last error", "Created"]} actions />
          <tbody>
            {dead.map((d) => (
              <tr key={d.id}>
                <td class="wrap">{d.id}</td>
                <td>{d.channel}</td>
                <td>{d.attempts}</td>
                <td class="wrap">{d.last_error ?? "–"}</td>
                <td>{d.created_at}</td>
                <td class="actions">
                  <button type="button" disabled={!writer} title={writer ? undefined : READ_ONLY} onClick={() => void deadAction(d, "retry")}>
                    Retry<span class="sr-only"> {d.id}</span>
                  </button>
                  <button type="button" disabled={!writer} title={writer ? undefined : READ_ONLY} onClick={() => void deadAction(d, "drop")}>
                    Drop<span class="sr-only"> {d.id}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}
