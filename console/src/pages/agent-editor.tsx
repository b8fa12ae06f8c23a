// Channels & agents: editing one agent in a form (PATCH /admin/agents/{id}). Only the fields the
// operator changed are sent; the API validates them (schema/channels.ts updateAgentBody) and its
// 400 names the field. The admin API has no agent delete, so neither has the console.
import { api } from "../api.ts";

export interface AgentFull {
  id: string;
  tenant_id: string;
  name: string;
  model: string;
  system_prompt: string;
  dm_policy: string;
  allowlist: string[];
  max_reply_tokens: number;
  history_token_budget: number;
  session_ttl_s: number;
  merge_queued: boolean;
  created_at: string;
}

function changes(a: AgentFull, form: HTMLFormElement): Record<string, unknown> {
  const v = (name: string) => ((form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | null)?.value ?? "").trim();
  const num = (name: string) => (v(name) === "" ? Number.NaN : Number(v(name)));
  const next: Record<string, unknown> = {
    model: v("ae-model"),
    system_prompt: v("ae-prompt"),
    dm_policy: v("ae-policy"),
    allowlist: v("ae-allowlist")
      .split(/[\s,]+/)
      .filter((p) => p !== ""),
    max_reply_tokens: num("ae-reply"),
    history_token_budget: num("ae-history"),
    session_ttl_s: num("ae-ttl"),
    merge_queued: (form.elements.namedItem("ae-merge") as HTMLInputElement).checked,
  };
  const body: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(next)) {
    if (JSON.stringify(value) !== JSON.stringify(a[k as keyof AgentFull])) body[k] = value;
  }
  return body;
}

export function AgentEditor({ agent, onDone, act }: { agent: AgentFull; onDone: () => void; act: (what: () => Promise<string>) => Promise<void> }) {
  const submit = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    void act(async () => {
      const body = changes(agent, form);
      if (Object.keys(body).length === 0) return "Nothing changed.";
      // NaN (an emptied number box) goes as null: the API's 400 then names the field.
      await api.patch(`/agents/${encodeURIComponent(agent.id)}`, JSON.parse(JSON.stringify(body, (_k, x) => (typeof x === "number" && Number.isNaN(x) ? null : x))));
      onDone();
      return `Agent ${agent.name} updated (${Object.keys(body).join(", ")}).`;
    });
  };
  return (
    <form class="filters agent-edit" onSubmit={submit} aria-labelledby="ae-h" data-testid="agent-editor">
      <h3 id="ae-h">Edit agent {agent.name}</h3>
      <div>
        <label for="ae-model">Model</label>
        <input id="ae-model" name="ae-model" required maxLength={128} defaultValue={agent.model} />
      </div>
      <div>
        <label for="ae-policy">DM policy</label>
        <select id="ae-policy" name="ae-policy">
          {["open", "pairing", "allowlist"].map((p) => (
            <option key={p} value={p} selected={agent.dm_policy === p}>
              {p}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label for="ae-reply">Max reply tokens</label>
        <input id="ae-reply" name="ae-reply" type="number" step={1} defaultValue={String(agent.max_reply_tokens)} />
      </div>
      <div>
        <label for="ae-history">History token budget</label>
        <input id="ae-history" name="ae-history" type="number" step={1} defaultValue={String(agent.history_token_budget)} />
      </div>
      <div>
        <label for="ae-ttl">Session TTL (seconds)</label>
        <input id="ae-ttl" name="ae-ttl" type="number" step={1} defaultValue={String(agent.session_ttl_s)} />
      </div>
      <div class="check">
        <input id="ae-merge" name="ae-merge" type="checkbox" defaultChecked={agent.merge_queued} />
        <label for="ae-merge">Merge queued messages</label>
      </div>
      <div class="wide">
        <label for="ae-prompt">System prompt</label>
        <textarea id="ae-prompt" name="ae-prompt" rows={3} cols={60} maxLength={32000} defaultValue={agent.system_prompt} />
      </div>
      <div class="wide">
        <label for="ae-allowlist">Allowlist (peer ids, separated by spaces or commas)</label>
        <textarea id="ae-allowlist" name="ae-allowlist" rows={2} cols={60} defaultValue={agent.allowlist.join(" ")} />
      </div>
      <button type="submit">Save agent</button>
      <button type="button" onClick={onDone}>
        Cancel
      </button>
    </form>
  );
}
