// Channels & agents, its last part: DM pairing requests (GET /admin/pairings) of agents whose
// dm_policy is "pairing"; a pending one shows its code. Approve sends
// POST /admin/pairings/approve {code, tenant_id}; Deny (after a confirmation) sends
// POST /admin/pairings/deny, which deletes the request: the row leaves the list, and the sender's
// next message asks again with a new code.
import { api } from "../api.ts";
import { Head } from "./table.tsx";

export interface Pairing {
  id: string;
  tenant_id: string;
  agent_id: string;
  channel: string;
  peer_id: string;
  code: string | null;
  status: string;
  created_at: string;
}

const READ_ONLY = "Your role is read-only";

export function Pairings({ pairings, writer, act }: { pairings: Pairing[]; writer: boolean; act: (what: () => Promise<string>) => Promise<void> }) {
  return (
        <section aria-labelledby="pair-h">
          <h2 id="pair-h">Pairing requests</h2>
          {pairings.length === 0 && <p>No pairing requests.</p>}
          <table data-testid="pairings">
            <Head cols={["Peer", "Agent", "Channel", "Code", "Status", "Asked"]} actions />
            <tbody>
              {pairings.map((p) => (
                <tr key={p.id}>
                  <td>{p.peer_id}</td>
                  <td>{p.agent_id}</td>
                  <td>{p.channel}</td>
                  <td>{p.code ? <code>{p.code}</code> : "–"}</td>
                  <td>{p.status}</td>
                  <td>{p.created_at}</td>
                  <td class="actions">
                    <button
                      type="button"
                      disabled={!writer || p.status !== "pending" || p.code === null}
                      title={writer ? undefined : READ_ONLY}
                      onClick={() => void act(async () => (await api.post("/pairings/approve", { code: p.code, tenant_id: p.tenant_id }), `Pairing of ${p.peer_id} approved.`))}
                    >
                      Approve<span class="sr-only"> {p.peer_id}</span>
                    </button>{" "}
                    <button
                      type="button"
                      disabled={!writer || p.status !== "pending" || p.code === null}
                      title={writer ? undefined : READ_ONLY}
                      onClick={() =>
                        window.confirm(`Deny the pairing request of ${p.peer_id}? Its code stops working; a new message from them asks again.`) &&
                        void act(async () => (await api.post("/pairings/deny", { code: p.code, tenant_id: p.tenant_id }), `Pairing request of ${p.peer_id} denied.`))
                      }
                    >
                      Deny<span class="sr-only"> {p.peer_id}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
  );
}
