// Jobs: the scheduler's jobs through /admin/jobs (list with next fire time, run history, pause,
// resume, trigger, delete, create from a cron expression). The form previews the expression in
// words and its next 5 fire times in the job's time zone, computed with croner (the library the
// scheduler validates and runs cron expressions with), before anything is sent.
import { Cron } from "croner";
import { useEffect, useState } from "preact/hooks";
import { api, canWrite, type Session } from "../api.ts";
import { describeCron } from "./cron-text.ts";
import { Head } from "./table.tsx";
import { Status } from "./status.tsx";

interface Job {
  id: string;
  tenant_id: string;
  name: string | null;
  state: "active" | "paused" | "done";
  schedule: { kind: "cron"; expr: string; tz: string } | { kind: "interval"; every_ms: number } | { kind: "once" } | null;
  action: { kind: string } | null;
  next_at: string | null;
}
interface Run {
  scheduled_at: string;
  fired_at: string | null;
  lag_ms: number | null;
  state: string;
  attempts: number;
  manual: boolean;
  detail: string | null;
}

const READ_ONLY = "Your role is read-only";

function scheduleText(s: Job["schedule"]): string {
  if (!s) return "–";
  if (s.kind === "cron") return `cron ${s.expr} (${s.tz})`;
  if (s.kind === "interval") return `every ${s.every_ms / 1000} s`;
  return "once";
}

/** The next `n` fire times of a cron expression in `tz`, formatted there, or the reason it is invalid. */
export function preview(expr: string, tz: string, n = 5): { times: string[] } | { error: string } {
  try {
    const cron = new Cron(expr, { timezone: tz, paused: true });
    const fmt = new Intl.DateTimeFormat("en-GB", { timeZone: tz, weekday: "short", year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
    return { times: cron.nextRuns(n).map((d) => fmt.format(d)) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

export function Jobs({ session }: { session: Session }) {
  const [jobs, setJobs] = useState<Job[]>([]);
  const [tenants, setTenants] = useState<string[]>([]);
  const [runs, setRuns] = useState<{ id: string; data: Run[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [expr, setExpr] = useState("0 9 * * 1-5");
  const [tz, setTz] = useState("UTC");
  const writer = canWrite(session);
  const owner = session.role === "owner";

  const reload = async () => {
    try {
      setJobs((await api.get<{ data: Job[] }>("/jobs", { limit: "500" })).data);
      if (owner) setTenants((await api.get<{ data: { id: string; revoked_at: string | null }[] }>("/tenants", { limit: "500" })).data.filter((t) => !t.revoked_at).map((t) => t.id));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  useEffect(() => void reload(), []);

  const showRuns = async (id: string) => {
    try {
      setRuns({ id, data: (await api.get<{ data: Run[] }>(`/jobs/${id}/runs`, { limit: "20" })).data });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const act = async (id: string, what: "pause" | "resume" | "trigger") => {
    setError(null);
    try {
      await api.post(`/jobs/${id}/${what}`, {});
      await reload();
      if (what === "trigger") await showRuns(id);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const p = preview(expr, tz);
  const words = describeCron(expr);
  const create = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const value = (name: string) => ((form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null)?.value ?? "").trim();
    setError(null);
    try {
      const name = value("job-name");
      await api.post("/jobs", {
        ...(owner ? { tenant_id: value("job-tenant") } : {}),
        ...(name ? { name } : {}),
        schedule: { kind: "cron", expr, tz },
        action: { kind: "record" },
      });
      form.reset();
      await reload();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <>
      <Status error={error} />
      <section aria-labelledby="new-job-h">
        <h2 id="new-job-h">New cron job</h2>
        <form class="filters" onSubmit={create}>
          {owner && (
            <div>
              <label for="job-tenant">Tenant</label>
              <select id="job-tenant" name="job-tenant" required>
                {tenants.map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </select>
            </div>
          )}
          <div>
            <label for="job-name">Job name</label>
            <input id="job-name" name="job-name" maxLength={200} disabled={!writer} />
          </div>
          <div>
            <label for="job-expr">Cron expression (5 fields, or 6 with seconds)</label>
            <input id="job-expr" value={expr} onInput={(e) => setExpr((e.currentTarget as HTMLInputElement).value)} maxLength={200} disabled={!writer} />
          </div>
          <div>
            <label for="job-tz">Time zone (IANA)</label>
            <input id="job-tz" value={tz} onInput={(e) => setTz((e.currentTarget as HTMLInputElement).value)} maxLength={64} disabled={!writer} />
          </div>
          <button type="submit" disabled={!writer || "error" in p} title={writer ? undefined : READ_ONLY}>
            Create job
          </button>
        </form>
        <div class="preview" aria-live="polite" data-testid="cron-preview">
          {"error" in p ? (
            <p class="error">Invalid: {p.error}</p>
          ) : (
            <>
              <p>
                {words ? `Runs at: ${words}.` : null} Next 5 fire times in {tz}:
              </p>
              <ol>
                {p.times.map((t) => (
                  <li key={t}>{t}</li>
                ))}
              </ol>
            </>
          )}
        </div>
        <p class="note">The console creates jobs whose action only records each run; reminders, heartbeats and webhooks: admin API or CLI.</p>
      </section>
      <section aria-labelledby="jobs-h">
        <h2 id="jobs-h">Jobs</h2>
        <table data-testid="jobs">
          <Head cols={["Name", "Tenant", "Schedule", "Action", "State", "Next fire time"]} actions />
          <tbody>
            {jobs.map((j) => (
              <tr key={j.id}>
                <td>{j.name ?? j.id}</td>
                <td>{j.tenant_id}</td>
                <td>{scheduleText(j.schedule)}</td>
                <td>{j.action?.kind ?? "–"}</td>
                <td>{j.state}</td>
                <td>{j.next_at ?? "–"}</td>
                <td class="actions">
                  <button type="button" onClick={() => void showRuns(j.id)}>
                    Runs<span class="sr-only"> of {j.name ?? j.id}</span>
                  </button>
                  <button type="button" disabled={!writer || j.state === "done"} title={writer ? undefined : READ_ONLY} onClick={() => void act(j.id, "trigger")}>
                    Trigger<span class="sr-only"> {j.name ?? j.id}</span>
                  </button>
                  {j.state === "paused" ? (
                    <button type="button" disabled={!writer} title={writer ? undefined : READ_ONLY} onClick={() => void act(j.id, "resume")}>
                      Resume<span class="sr-only"> {j.name ?? j.id}</span>
                    </button>
                  ) : (
                    <button type="button" disabled={!writer || j.state === "done"} title={writer ? undefined : READ_ONLY} onClick={() => void act(j.id, "pause")}>
                      Pause<span class="sr-only"> {j.name ?? j.id}</span>
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {jobs.length === 0 && <p>No jobs.</p>}
      </section>
      {runs && (
        <section aria-labelledby="runs-h">
          <h2 id="runs-h">Runs of {jobs.find((j) => j.id === runs.id)?.name ?? runs.id}</h2>
          <button type="button" onClick={() => void showRuns(runs.id)}>
            Refresh runs
          </button>
          <table data-testid="runs">
            <Head cols={["Scheduled", "Fired", "Lag", "State", "Attempts", "Manual", "Detail"]} />
            <tbody>
              {runs.data.map((r) => (
                <tr key={`${r.scheduled_at}/${r.manual}`}>
                  <td>{r.scheduled_at}</td>
                  <td>{r.fired_at ?? "–"}</td>
                  <td>{r.lag_ms === null ? "–" : `${r.lag_ms} ms`}</td>
                  <td>{r.state}</td>
                  <td>{r.attempts}</td>
                  <td>{r.manual ? "yes" : "no"}</td>
                  <td class="wrap">{r.detail ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {runs.data.length === 0 && <p>No runs yet.</p>}
        </section>
      )}
      <p class="note">Not in the console yet: deleting jobs, interval and one-shot schedules (admin API or CLI).</p>
    </>
  );
}
