// The small page the Worker serves to try WebChat: it keeps a random visitor id in
// localStorage (the session's key), opens the account's socket, shows the history, streams the
// answer as deltas arrive and resends unacknowledged messages after a reconnect (the session
// dedupes them by id).
export function webchatPage(accountId: string): string {
  const account = JSON.stringify(accountId).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>EdgeClaw WebChat</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:0;display:flex;flex-direction:column;height:100vh;background:#f6f6f6}
#log{flex:1;overflow:auto;padding:1rem}
.m{max-width:40rem;margin:.3rem 0;padding:.5rem .75rem;border-radius:.6rem;white-space:pre-wrap;background:#fff}
.user{margin-left:auto;background:#d8ecff}
form{display:flex;gap:.5rem;padding:.75rem;background:#fff;border-top:1px solid #ddd}
input{flex:1;padding:.5rem;font:inherit}
#state{font-size:12px;color:#777;padding:0 1rem}
</style></head>
<body><div id="log"></div><div id="state">connecting…</div>
<form id="f"><input id="t" autocomplete="off" placeholder="Write a message" required><button>Send</button></form>
<script type="module">
const account = ${account};
const log = document.getElementById("log"), state = document.getElementById("state");
let peer = localStorage.getItem("edgeclaw-peer");
if (!peer) { peer = crypto.randomUUID().replace(/-/g, ""); localStorage.setItem("edgeclaw-peer", peer); }
const unacked = new Map();
const streaming = new Map();
let ws;
function bubble(role, text) { const d = document.createElement("div"); d.className = "m " + role; d.textContent = text; log.append(d); log.scrollTop = log.scrollHeight; return d; }
function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(proto + "//" + location.host + "/webchat/" + encodeURIComponent(account) + "/ws?peer=" + peer);
  ws.onopen = () => { state.textContent = "connected"; for (const [id, text] of unacked) ws.send(JSON.stringify({ type: "message", id, text })); };
  ws.onclose = () => { state.textContent = "reconnecting…"; setTimeout(connect, 1000); };
  ws.onmessage = (ev) => {
    const f = JSON.parse(ev.data);
    if (f.type === "history") { log.textContent = ""; for (const m of f.messages) bubble(m.role, m.content); }
    else if (f.type === "ack") unacked.delete(f.id);
    else if (f.type === "delta") { let d = streaming.get(f.reply_to); if (!d) { d = bubble("assistant", ""); streaming.set(f.reply_to, d); } d.textContent += f.text; }
    else if (f.type === "reply") { const d = streaming.get(f.reply_to); if (d) { d.textContent = f.text; streaming.delete(f.reply_to); } else bubble("assistant", f.text); }
    else if (f.type === "error") state.textContent = f.message;
  };
}
document.getElementById("f").onsubmit = (e) => {
  e.preventDefault();
  const input = document.getElementById("t"), text = input.value.trim();
  if (!text) return;
  const id = crypto.randomUUID();
  unacked.set(id, text); bubble("user", text); input.value = "";
  if (ws.readyState === 1) ws.send(JSON.stringify({ type: "message", id, text }));
};
connect();
</script></body></html>`;
}
