// Channels & agents: channel accounts (GET/POST /admin/channel-accounts, revoke) with the URL to
// give each platform (its webhook_path joined to this page's origin; a hook account's
// /hooks/agent, a WebChat account's /webchat/{id}), agents (GET/POST /admin/agents), bindings
// (GET/POST/DELETE /admin/bindings) and DM pairing requests (GET /admin/pairings, approve, deny).
// Agents are edited in a form (agent-editor.tsx, PATCH /admin/agents/{id}). Hook and
// WebChat accounts need no platform secret and have a form; the other platforms are created from
// a JSON body (their credentials are vault:<name> references, docs/channels.md).
import { useEffect, useState } from "preact/hooks";
import { api, canWrite, message, runner, type Session } from "../api.ts";
import { AgentEditor, type AgentFull } from "./agent-editor.tsx";
import { Pairings, type Pairing } from "./pairings.tsx";
import { Head } from "./table.tsx";
import { Status } from "./status.tsx";

interface Account {
  id: string;
  tenant_id: string;
  channel: string;
  name: string;
  webhook_path: string | null;
  created_at: string;
  revoked_at: string | null;
}
type Agent = AgentFull;
interface Binding {
  id: string;
  tenant_id: string;
  agent_id: string;
  channel: string | null;
  account_id: string | null;
  group_id: string | null;
  peer_id: string | null;
}

const READ_ONLY = "Your role is read-only";
const CHANNELS = ["hook", "webchat", "telegram", "slack", "discord", "line", "whatsapp", "feishu"];

function endpoint(a: Account): string | null {
  if (a.webhook_path) return `${location.origin}${a.webhook_path}`;
  if (a.channel === "hook") return `${location.origin}/hooks/agent`;
  if (a.channel === "webchat") return `${location.origin}/webchat/${a.id}`;
  return null;
}

function field(form: HTMLFormElement, name: string): string {
  return ((form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | null)?.value ?? "").trim();
}

export function Channels({ session }: { session: Session }) {
  const [tenants, setTenants] = useState<string[]>([]);
  const [accounts, setAccounts] = useState<Account[]>([]);
  const [agents, setAgents] = useState<Agent[]>([]);
  const [bindings, setBindings] = useState<Binding[]>([]);
  const [pairings, setPairings] = useState<Pairing[]>([]);
  const [editing, setEditing] = useState<string | null>(null);
  const [shownOnce, setShownOnce] = useState<{ label: string; value: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const writer = canWrite(session);
  const owner = session.tenant === null;

  const reload = async () => {
    try {
      const q = { limit: "500" };
      const [a, g, b, p] = await Promise.all([
        api.get<{ data: Account[] }>("/channel-accounts", q),
        api.get<{ data: Agent[] }>("/agents", q),
        api.get<{ data: Binding[] }>("/bindings", q),
        api.get<{ data: Pairing[] }>("/pairings", q),
      ]);
      setAccounts(a.data);
      setAgents(g.data);
      setBindings(b.data);
      setPairings(p.data);
      if (owner) setTenants((await api.get<{ data: { id: string; revoked_at: string | null }[] }>("/tenants", q)).data.filter((t) => t.revoked_at === null).map((t) => t.id));
    } catch (e) {
      setError(message(e));
    }
  };
  useEffect(() => void reload(), []);

  const act = runner(reload, setError, setNotice);
  // Owners name the tenant in each body; a tenant's admin writes to its own.
  const tenantPart = (form: HTMLFormElement, name: string) => (owner ? { tenant_id: field(form, name) } : {});
  const submit = (handler: (form: HTMLFormElement) => Promise<string>) => (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    void act(async () => {
      const text = await handler(form);
      // Clear the fields but keep the tenant chosen: the next account or agent is usually for it too.
      const tenantSelect = form.querySelector<HTMLSelectElement>("select[name$='-tenant']");
      const kept = tenantSelect?.value;
      form.reset();
      if (tenantSelect && kept) tenantSelect.value = kept;
      return text;
    });
  };

  const createAccount = submit(async (form) => {
    const json = field(form, "acc-json");
    let body: Record<string, unknown>;
    if (json) {
      try {
        body = JSON.parse(json) as Record<string, unknown>;
      } catch {
        throw new Error("The JSON body does not parse.");
      }
    } else body = { channel: field(form, "acc-channel"), name: field(form, "acc-name") };
    const created = await api.post<Account & { token?: string; webhook_secret?: string }>("/channel-accounts", { ...tenantPart(form, "acc-tenant"), ...body });
    if (created.token) setShownOnce({ label: `Hook token for ${created.name}`, value: created.token });
    else if (created.webhook_secret) setShownOnce({ label: `Webhook secret for ${created.name}`, value: created.webhook_secret });
    else setShownOnce(null);
    return `Account ${created.name} created.`;
  });
  const createAgent = submit(async (form) => {
    const created = await api.post<Agent>("/agents", {
      ...tenantPart(form, "agent-tenant"),
      name: field(form, "agent-name"),
      model: field(form, "agent-model"),
      system_prompt: field(form, "agent-prompt"),
      dm_policy: field(form, "agent-policy"),
    });
    return `Agent ${created.name} created.`;
  });
  const createBinding = submit(async (form) => {
    const agent = agents.find((a) => a.id === field(form, "bind-agent"));
    const channel = field(form, "bind-channel");
    const account = field(form, "bind-account");
    await api.post<Binding>("/bindings", { tenant_id: agent?.tenant_id, agent_id: field(form, "bind-agent"), ...(channel ? { channel } : {}), ...(account ? { account_id: account } : {}) });
    return "Binding created.";
  });
  const copy = (text: string) =>
    void navigator.clipboard.writeText(text).then(
      () => setNotice(`Copied ${text}`),
      () => setNotice(`Copy it by hand: ${text}`),
    );

  const tenantSelect = (id: string) =>
    owner && (
      <>
        <label for={id}>Tenant</label>
        <select id={id} name={id} required disabled={!writer}>
          {tenants.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
      </>
    );
  return (
    <>
      <Status error={error} notice={notice} />
      <button type="button" onClick={() => void reload()}>
        Refresh
      </button>
      <section aria-labelledby="acc-h">
        <h2 id="acc-h">Channel accounts</h2>
        <form class="inline" onSubmit={createAccount}>
          {tenantSelect("acc-tenant")}
          <label for="acc-channel">Channel</label>
          <select id="acc-channel" name="acc-channel" disabled={!writer}>
            <option value="hook">hook</option>
            <option value="webchat">webchat</option>
          </select>
          <label for="acc-name">Account name</label>
          <input id="acc-name" name="acc-name" maxLength={63} disabled={!writer} />
          <label for="acc-json">Or a whole JSON body (other platforms)</label>
          <textarea id="acc-json" name="acc-json" rows={2} cols={40} maxLength={20000} disabled={!writer} placeholder='{"channel":"telegram","name":"bot","token_ref":"vault:tg"}' />
          <button type="submit" disabled={!writer} title={writer ? undefined : READ_ONLY}>
            Create account
          </button>
        </form>
        {shownOnce && (
          <div class="new-key" role="status">
            <p>{shownOnce.label}: copy it now, it is shown only once.</p>
            <code data-testid="shown-once">{shownOnce.value}</code>
            <button type="button" onClick={() => setShownOnce(null)}>
              Done
            </button>
          </div>
        )}
        {CHANNELS.filter((ch) => accounts.some((a) => a.channel === ch)).map((ch) => (
          <table key={ch} data-testid={`accounts-${ch}`}>
            <caption>{ch}</caption>
            <Head cols={["Name", "Id", "Tenant", "URL for the platform", "Status"]} actions />
            <tbody>
              {accounts
                .filter((a) => a.channel === ch)
                .map((a) => {
                  const url = endpoint(a);
                  return (
                    <tr key={a.id}>
                      <td>{a.name}</td>
                      <td>{a.id}</td>
                      <td>{a.tenant_id}</td>
                      <td class="wrap">{url ? <code data-testid={`url-${a.name}`}>{url}</code> : "–"}</td>
                      <td>{a.revoked_at ? `revoked ${a.revoked_at}` : "active"}</td>
                      <td class="actions">
                        {url && (
                          <button type="button" onClick={() => copy(url)}>
                            Copy URL<span class="sr-only"> of {a.name}</span>
                          </button>
                        )}
                        <button
                          type="button"
                          disabled={!writer || a.revoked_at !== null}
                          title={writer ? undefined : READ_ONLY}
                          onClick={() => window.confirm(`Revoke account ${a.name}?`) && void act(async () => (await api.post(`/channel-accounts/${encodeURIComponent(a.id)}/revoke`, {}), `Account ${a.name} revoked.`))}
                        >
                          Revoke<span class="sr-only"> account {a.name}</span>
                        </button>
                      </td>
                    </tr>
                  );
                })}
            </tbody>
          </table>
        ))}
        {accounts.length === 0 && <p>No channel accounts.</p>}
      </section>
      <section aria-labelledby="agents-h">
        <h2 id="agents-h">Agents</h2>
        <form class="inline" onSubmit={createAgent}>
          {tenantSelect("agent-tenant")}
          <label for="agent-name">Agent name</label>
          <input id="agent-name" name="agent-name" required maxLength={63} disabled={!writer} />
          <label for="agent-model">Model</label>
          <input id="agent-model" name="agent-model" required maxLength={128} disabled={!writer} />
          <label for="agent-prompt">System prompt</label>
          <input id="agent-prompt" name="agent-prompt" required maxLength={32000} disabled={!writer} />
          <label for="agent-policy">DM policy</label>
          <select id="agent-policy" name="agent-policy" disabled={!writer}>
            <option value="open">open</option>
            <option value="pairing">pairing</option>
            <option value="allowlist">allowlist</option>
          </select>
          <button type="submit" disabled={!writer} title={writer ? undefined : READ_ONLY}>
            Create agent
          </button>
        </form>
        <table data-testid="agents">
          <Head cols={["Name", "Id", "Tenant", "Model", "DM policy", "Created"]} actions />
          <tbody>
            {agents.map((a) => (
              <tr key={a.id}>
                <td>{a.name}</td>
                <td>{a.id}</td>
                <td>{a.tenant_id}</td>
                <td>{a.model}</td>
                <td>{a.dm_policy}</td>
                <td>{a.created_at}</td>
                <td>
                  <button type="button" disabled={!writer} title={writer ? undefined : READ_ONLY} onClick={() => setEditing(a.id)}>
                    Edit<span class="sr-only"> agent {a.name}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {editing && agents.some((a) => a.id === editing) && <AgentEditor key={editing} agent={agents.find((a) => a.id === editing)!} onDone={() => setEditing(null)} act={act} />}
        <p class="note">Agents cannot be deleted here: the admin API has no route for it.</p>
      </section>
      <section aria-labelledby="bind-h">
        <h2 id="bind-h">Bindings</h2>
        <form class="inline" onSubmit={createBinding}>
          <label for="bind-agent">Agent</label>
          <select id="bind-agent" name="bind-agent" required disabled={!writer}>
            {agents.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name} ({a.tenant_id})
              </option>
            ))}
          </select>
          <label for="bind-channel">Channel</label>
          <select id="bind-channel" name="bind-channel" disabled={!writer}>
            <option value="">any</option>
            {CHANNELS.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
          <label for="bind-account">Account</label>
          <select id="bind-account" name="bind-account" disabled={!writer}>
            <option value="">any</option>
            {accounts
              .filter((a) => a.revoked_at === null)
              .map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name} ({a.channel})
                </option>
              ))}
          </select>
          <button type="submit" disabled={!writer || agents.length === 0} title={writer ? undefined : READ_ONLY}>
            Create binding
          </button>
        </form>
        <table data-testid="bindings">
          <Head cols={["Id", "Agent", "Channel", "Account", "Group / peer"]} actions />
          <tbody>
            {bindings.map((b) => (
              <tr key={b.id}>
                <td>{b.id}</td>
                <td>{b.agent_id}</td>
                <td>{b.channel ?? "any"}</td>
                <td>{b.account_id ?? "any"}</td>
                <td>{b.group_id ?? b.peer_id ?? "any"}</td>
                <td>
                  <button type="button" disabled={!writer} title={writer ? undefined : READ_ONLY} onClick={() => window.confirm(`Delete binding ${b.id}?`) && void act(async () => (await api.del(`/bindings/${encodeURIComponent(b.id)}`), `Binding ${b.id} deleted.`))}>
                    Delete<span class="sr-only"> binding {b.id}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <Pairings pairings={pairings} writer={writer} act={act} />
    </>
  );
}
