// Jobs: the scheduler's jobs through /admin/jobs (list with next fire time, run history, pause,
// resume, trigger, delete; create with a cron, interval or one-shot schedule). For a cron job the
// form previews the expression in words and its next 5 fire times in the job's time zone, computed
// with croner (the library the scheduler validates and runs cron expressions with), before
// anything is sent; for an interval its next 5 times; for a one-shot the instant it fires. The
// API validates the schedule again (schema/scheduler.ts) and its 400 is shown as it is.
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

type Kind = "cron" | "interval" | "once";

function formatIn(tz: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat("en-GB", { timeZone: tz, weekday: "short", year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
}

/** An interval's first `n` fire times (the scheduler's default start: now + every), or why not. */
export function intervalPreview(everySeconds: string, now: number, n = 5): { times: string[]; everyMs: number } | { error: string } {
  const seconds = Number(everySeconds);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 366 * 86_400) return { error: "a whole number of seconds from 1 to 31622400 (366 days)" };
  const fmt = formatIn("UTC");
  return { times: Array.from({ length: n }, (_, k) => fmt.format(new Date(now + (k + 1) * seconds * 1000))), everyMs: seconds * 1000 };
}

/** A one-shot's instant from a datetime-local value (the browser's zone), or why not. */
export function oncePreview(local: string, now: number): { at: string; shown: string } | { error: string } {
  const t = Date.parse(local); // "YYYY-MM-DDTHH:MM" without an offset is local time
  if (!local || Number.isNaN(t)) return { error: "pick a date and time" };
  if (t <= now) return { error: "that time has passed" };
  return { at: new Date(t).toISOString(), shown: formatIn("UTC").format(new Date(t)) };
}

/** The next `n` fire times of a cron expression in `tz`, formatted there, or the reason it is invalid. */
export function preview(expr: string, tz: string, n = 5): { times: string[] } | { error: string } {
  try {
    const cron = new Cron(expr, { timezone: tz, paused: true });
    const fmt = formatIn(tz);
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
  const [kind, setKind] = useState<Kind>("cron");
  const [every, setEvery] = useState("3600");
  const [onceAt, setOnceAt] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
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
  const act = async (id: string, what: "pause" | "resume" | "trigger" | "delete", label = id) => {
    setError(null);
    setNotice(null);
    try {
      if (what === "delete") {
        await api.del(`/jobs/${encodeURIComponent(id)}`);
        if (runs?.id === id) setRuns(null);
      } else await api.post(`/jobs/${id}/${what}`, {});
      await reload();
      if (what === "delete") setNotice(`Job ${label} deleted.`);
      if (what === "trigger") await showRuns(id);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const p = preview(expr, tz);
  const words = describeCron(expr);
  const now = Date.now();
  const ip = intervalPreview(every, now);
  const op = oncePreview(onceAt, now);
  const invalid = kind === "cron" ? "error" in p : kind === "interval" ? "error" in ip : "error" in op;
  const schedule = () => {
    if (kind === "cron") return { kind, expr, tz };
    if (kind === "interval") return { kind, every_ms: "everyMs" in ip ? ip.everyMs : 0 };
    return { kind, at: "at" in op ? op.at : "" };
  };
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
        schedule: schedule(),
        action: { kind: "record" },
      });
      form.reset();
      await reload();
      setNotice(`${kind === "cron" ? "Cron" : kind === "interval" ? "Interval" : "One-shot"} job created.`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <>
      <Status error={error} notice={notice} />
      <section aria-labelledby="new-job-h">
        <h2 id="new-job-h">New job</h2>
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
            <label for="job-kind">Schedule</label>
            <select id="job-kind" value={kind} onChange={(e) => setKind((e.currentTarget as HTMLSelectElement).value as Kind)} disabled={!writer}>
              <option value="cron">cron expression</option>
              <option value="interval">every N seconds</option>
              <option value="once">once, at a time</option>
            </select>
          </div>
          {kind === "cron" && (
            <>
              <div>
                <label for="job-expr">Cron expression (5 fields, or 6 with seconds)</label>
                <input id="job-expr" value={expr} onInput={(e) => setExpr((e.currentTarget as HTMLInputElement).value)} maxLength={200} disabled={!writer} />
              </div>
              <div>
                <label for="job-tz">Time zone (IANA)</label>
                <input id="job-tz" value={tz} onInput={(e) => setTz((e.currentTarget as HTMLInputElement).value)} maxLength={64} disabled={!writer} />
              </div>
            </>
          )}
          {kind === "interval" && (
            <div>
              <label for="job-every">Every (seconds)</label>
              <input id="job-every" type="number" min={1} max={31622400} step={1} value={every} onInput={(e) => setEvery((e.currentTarget as HTMLInputElement).value)} disabled={!writer} />
            </div>
          )}
          {kind === "once" && (
            <div>
              <label for="job-at">At (your browser's time zone)</label>
              <input id="job-at" type="datetime-local" value={onceAt} onInput={(e) => setOnceAt((e.currentTarget as HTMLInputElement).value)} disabled={!writer} />
            </div>
          )}
          <button type="submit" disabled={!writer || invalid} title={writer ? undefined : READ_ONLY}>
            Create job
          </button>
        </form>
        <div class="preview" aria-live="polite" data-testid="cron-preview">
          {kind === "cron" &&
            ("error" in p ? (
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
            ))}
          {kind === "interval" &&
            ("error" in ip ? (
              <p class="error">Invalid: {ip.error}</p>
            ) : (
              <>
                <p>First 5 fire times if created now (UTC):</p>
                <ol>
                  {ip.times.map((t) => (
                    <li key={t}>{t}</li>
                  ))}
                </ol>
              </>
            ))}
          {kind === "once" && ("error" in op ? <p class="error">Invalid: {op.error}</p> : <p>Fires once at {op.shown}.</p>)}
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
                  <button type="button" disabled={!writer} title={writer ? undefined : READ_ONLY} onClick={() => window.confirm(`Delete job ${j.name ?? j.id}? Its run history goes with it.`) && void act(j.id, "delete", j.name ?? j.id)}>
                    Delete<span class="sr-only"> job {j.name ?? j.id}</span>
                  </button>
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
    </>
  );
}
