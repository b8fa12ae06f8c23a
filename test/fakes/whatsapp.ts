// A local fake of the WhatsApp Cloud API (Graph API, https://developers.facebook.com/docs/whatsapp/cloud-api),
// following its documented contract:
//   POST /{version}/{phone_number_id}/messages  {messaging_product:"whatsapp", recipient_type,
//        to, type:"text", text:{body (1-4,096 characters), preview_url}, context?:{message_id}}
//        or {type:"template", template:{name, language:{code}, components?}} (a body text
//        parameter: at most 1,024 characters, no newline or tab, at most 4 spaces in a row, else
//        400 code 132018 as at Meta): answers 200
//        {messaging_product, contacts:[{input, wa_id}], messages:[{id:"wamid...."}]}
//   Every call needs `Authorization: Bearer <token>`: tokens the fake knows start with "EAA"
//   (401 code 190 otherwise). Errors are Graph errors {error:{message, type, code,
//   error_subcode?, error_data:{messaging_product, details}, fbtrace_id}}, HTTP 400 for the
//   Cloud API's own codes whatever they mean (130429 throughput, 131056 pair rate limit, 100
//   invalid parameter), as Meta answers them.
//   A user marked outside the 24-hour window gets free-form messages refused as at Meta: by
//   default accepted (200, a wamid) and then a `failed` status with error 131047; with
//   {sync: true} refused at once (400, code 131047). Templates always go.
// Status callbacks: what the fake would post to the app's webhook: `sent` and `delivered` for
// each message when config.statuses is on, a `failed` one for an outside-window message or on
// request. Each is a signed delivery, X-Hub-Signature-256 = sha256=<hex HMAC-SHA256(app secret,
// body)>, posted to config.webhook_url when set (npm start's processes), else kept for a test to
// take (GET /control/<token>/callbacks) and post to the Worker itself (workerd's tests cannot be
// reached from here).
// Controls (per access token; the fake records per token, so tests never see each other's):
//   POST /control/<token>/config {app_secret, webhook_url?, statuses?}
//   POST /control/<token>/window {to, open, sync?}  mark a user inside/outside the 24-hour window
//   POST /control/<token>/fail {kind, times, status?, code?, message?}  the next `times` sends get:
//        "130429" or "131056" (400 with that code), "500" (500 code 2), "stall" (never answered),
//        "drop" (executed and recorded, then the connection is cut), "hold" (executed and
//        recorded, the answer held until the sender goes away: a crash mid-send), or "status"
//        (`status` with `code` and `message`, e.g. 401 code 190)
//   POST /control/<token>/status {id, status?, code?, title?, details?}  a status callback for
//        that message (default: failed, 131026 "Message undeliverable")
//   GET  /control/<token>/sent       every delivered message: {phoneNumberId, to, type, text, template, context, id, at}
//   GET  /control/<token>/calls      {send, refused, held}
//   GET  /control/<token>/callbacks  the status callbacks not yet taken: [{body, signature}]
//   POST /control/<token>/reset
// Run alone for end-to-end tests: `node test/fakes/whatsapp.ts <port>`.
import { createHmac, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { json, listenFake, readBody } from "./upstream-http.ts";

export interface WhatsappSentMessage {
  phoneNumberId: string;
  to: string;
  type: "text" | "template";
  text: string | null;
  template: { name: string; language: string; parameters: string[] } | null;
  context: string | null;
  id: string;
  at: number;
}

export interface WhatsappCalls {
  send: number;
  refused: number;
  // Sends executed and then left unanswered by a "hold" failure.
  held: number;
}

export interface StatusCallback {
  body: string;
  signature: string;
}

interface Failure {
  kind: "130429" | "131056" | "500" | "stall" | "drop" | "hold" | "status";
  times: number;
  status: number;
  code: number;
  message: string;
}

interface Account {
  sent: WhatsappSentMessage[];
  calls: WhatsappCalls;
  failure: Failure | null;
  appSecret: string | null;
  webhookUrl: string | null;
  statuses: boolean;
  // to -> outside the window (sync: refused at once instead of a failed status)
  closed: Map<string, { sync: boolean }>;
  callbacks: StatusCallback[];
}

export interface FakeWhatsapp {
  url: string;
  close(): Promise<void>;
}

const MAX_TEXT = 4_096;

export function wamidOf(): string {
  return `wamid.${randomBytes(24).toString("base64")}`;
}

export function hubSignature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

function graphError(code: number, message: string, details: string, subcode?: number) {
  return { error: { message, type: "OAuthException", code, ...(subcode ? { error_subcode: subcode } : {}), error_data: { messaging_product: "whatsapp", details }, fbtrace_id: randomBytes(8).toString("base64url") } };
}

const ERRORS: Record<string, { status: number; code: number; message: string; details: string; subcode?: number }> = {
  "130429": { status: 400, code: 130429, message: "(#130429) Rate limit hit", details: "Cloud API message throughput has been reached.", subcode: 2494055 },
  "131056": {
    status: 400,
    code: 131056,
    message: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
    details: "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
  },
  "500": { status: 500, code: 2, message: "(#2) Service temporarily unavailable", details: "Service temporarily unavailable." },
};

export async function startFakeWhatsapp(port = 0): Promise<FakeWhatsapp> {
  const accounts = new Map<string, Account>();
  const stalled = new Set<ServerResponse>();

  function accountOf(token: string): Account {
    let a = accounts.get(token);
    if (!a) {
      a = { sent: [], calls: { send: 0, refused: 0, held: 0 }, failure: null, appSecret: null, webhookUrl: null, statuses: false, closed: new Map(), callbacks: [] };
      accounts.set(token, a);
    }
    return a;
  }

  // A status callback as Meta posts it: one entry, one "messages" change, one status.
  function queueStatus(a: Account, phoneNumberId: string, status: Record<string, unknown>): void {
    if (a.appSecret === null) return;
    const body = JSON.stringify({
      object: "whatsapp_business_account",
      entry: [{ id: "100000000000001", changes: [{ field: "messages", value: { messaging_product: "whatsapp", metadata: { display_phone_number: "15550000000", phone_number_id: phoneNumberId }, statuses: [status] } }] }],
    });
    const callback = { body, signature: hubSignature(a.appSecret, body) };
    if (a.webhookUrl === null) {
      a.callbacks.push(callback);
      return;
    }
    // Meta retries a failed callback for days; the fake tries a few times.
    void (async () => {
      for (let i = 0; i < 5; i++) {
        try {
          const res = await fetch(a.webhookUrl as string, { method: "POST", headers: { "content-type": "application/json", "x-hub-signature-256": callback.signature }, body });
          if (res.ok) return;
        } catch {
          // retried below
        }
        await new Promise((r) => setTimeout(r, 200 * 2 ** i));
      }
    })();
  }

  function statusOf(m: WhatsappSentMessage, status: string, error?: { code: number; title: string; details: string }): Record<string, unknown> {
    return {
      id: m.id,
      status,
      timestamp: String(Math.floor(Date.now() / 1000)),
      recipient_id: m.to,
      ...(error ? { errors: [{ code: error.code, title: error.title, message: error.title, error_data: { details: error.details } }] } : {}),
    };
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => json(res, 500, graphError(1, String(err), "")));
  });

  async function control(token: string, action: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const a = accountOf(token);
    const raw = req.method === "POST" ? await readBody(req) : "";
    const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
    if (action === "sent") return json(res, 200, a.sent);
    if (action === "calls") return json(res, 200, a.calls);
    if (action === "callbacks") return json(res, 200, a.callbacks.splice(0));
    if (action === "reset") {
      accounts.delete(token);
      return json(res, 200, { ok: true });
    }
    if (action === "config") {
      if (typeof body.app_secret === "string") a.appSecret = body.app_secret;
      if (typeof body.webhook_url === "string") a.webhookUrl = body.webhook_url;
      if (typeof body.statuses === "boolean") a.statuses = body.statuses;
      return json(res, 200, { ok: true });
    }
    if (action === "window") {
      if (body.open === false) a.closed.set(String(body.to), { sync: body.sync === true });
      else a.closed.delete(String(body.to));
      return json(res, 200, { ok: true });
    }
    if (action === "fail") {
      a.failure = {
        kind: (body.kind as Failure["kind"]) ?? "130429",
        times: typeof body.times === "number" ? body.times : 1,
        status: typeof body.status === "number" ? body.status : 401,
        code: typeof body.code === "number" ? body.code : 190,
        message: typeof body.message === "string" ? body.message : "Error validating access token: Session has expired",
      };
      return json(res, 200, { ok: true });
    }
    if (action === "status") {
      const m = a.sent.find((x) => x.id === body.id);
      if (!m) return json(res, 404, { error: "no such message" });
      const status = typeof body.status === "string" ? body.status : "failed";
      const error = status === "failed" ? { code: typeof body.code === "number" ? body.code : 131026, title: typeof body.title === "string" ? body.title : "Message undeliverable", details: typeof body.details === "string" ? body.details : "Message Undeliverable." } : undefined;
      queueStatus(a, m.phoneNumberId, statusOf(m, status, error));
      return json(res, 200, { ok: true });
    }
    return json(res, 404, { error: "unknown control" });
  }

  // A failure a test asked for, answered instead of the real thing (true when answered); "drop"
  // and "hold" act after the call is executed, so they are returned for the caller.
  function failed(a: Account, res: ServerResponse): boolean | "drop" | "hold" {
    const f = a.failure;
    if (!f || f.times <= 0) return false;
    f.times--;
    if (f.kind === "drop" || f.kind === "hold") return f.kind;
    if (f.kind === "stall") {
      stalled.add(res);
      res.on("close", () => stalled.delete(res));
      return true;
    }
    a.calls.refused++;
    if (f.kind === "status") {
      json(res, f.status, graphError(f.code, f.message, f.message));
      return true;
    }
    const e = ERRORS[f.kind] as (typeof ERRORS)[string];
    json(res, e.status, graphError(e.code, e.message, e.details, e.subcode));
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const ctl = /^\/control\/([^/]+)\/(sent|calls|callbacks|reset|config|window|fail|status)$/.exec(url.pathname);
    if (ctl) return control(decodeURIComponent(ctl[1] as string), ctl[2] as string, req, res);
    const raw = await readBody(req);
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (!token || !token.startsWith("EAA")) return json(res, 401, graphError(190, "Invalid OAuth access token - Cannot parse access token", "Invalid OAuth access token"));
    const path = /^\/v\d{1,3}\.\d{1,2}\/(\d{1,32})\/messages$/.exec(url.pathname);
    if (!path) return json(res, 400, graphError(100, "Unsupported post request.", "Unknown path components"));
    if (req.method !== "POST") return json(res, 400, graphError(100, "Unsupported get request.", "Only POST"));
    const a = accountOf(token);
    a.calls.send++;
    const failure = failed(a, res);
    if (failure === true) return;
    let body: Record<string, any>;
    try {
      body = JSON.parse(raw) as Record<string, any>;
    } catch {
      return json(res, 400, graphError(100, "(#100) Invalid parameter", "The request body is not JSON"));
    }
    const invalid = (details: string) => json(res, 400, graphError(100, "(#100) Invalid parameter", details));
    if (body.messaging_product !== "whatsapp") return invalid("messaging_product must be whatsapp");
    if (typeof body.to !== "string" || !/^\+?\d{5,20}$/.test(body.to)) return invalid("Parameter 'to' is invalid");
    const to = body.to.replace(/^\+/, "");
    let message: WhatsappSentMessage;
    const id = wamidOf();
    const base = { phoneNumberId: path[1] as string, to, id, at: Date.now(), context: typeof body.context?.message_id === "string" ? body.context.message_id : null };
    if (body.type === "text") {
      const text = body.text?.body;
      if (typeof text !== "string" || text.length < 1 || text.length > MAX_TEXT) return invalid("Param text['body'] must be between 1 and 4096 characters long");
      const closed = a.closed.get(to);
      if (closed?.sync) {
        a.calls.refused++;
        return json(res, 400, graphError(131047, "(#131047) Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number."));
      }
      message = { ...base, type: "text", text, template: null };
    } else if (body.type === "template") {
      const t = body.template;
      if (typeof t?.name !== "string" || typeof t?.language?.code !== "string") return invalid("Parameter template is invalid");
      const parameters = Array.isArray(t.components) ? t.components.flatMap((c: any) => (Array.isArray(c.parameters) ? c.parameters.map((p: any) => String(p.text)) : [])) : [];
      for (const p of parameters) if (p.length > 1_024) return invalid("Param text cannot exceed 1024 characters");
      // Meta's rule for a text parameter (error 132018): one line, at most 4 spaces in a row.
      for (const p of parameters) {
        if (/[\n\t]| {5}/.test(p)) return json(res, 400, graphError(132018, "(#132018) There was an issue with the parameters in your template.", "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"));
      }
      // Half a surrogate pair (an emoji cut in two) has no UTF-8 form: no valid parameter text.
      for (const p of parameters) if (Buffer.from(p, "utf8").toString("utf8") !== p) return invalid("Param text is not valid UTF-8");
      message = { ...base, type: "template", text: null, template: { name: t.name, language: t.language.code, parameters } };
    } else {
      return invalid(`Unsupported message type ${String(body.type)}`);
    }
    a.sent.push(message);
    if (failure === "drop") return void res.destroy();
    if (failure === "hold") {
      a.calls.held++;
      stalled.add(res);
      res.on("close", () => stalled.delete(res));
      return;
    }
    json(res, 200, { messaging_product: "whatsapp", contacts: [{ input: body.to, wa_id: to }], messages: [{ id }] });
    // After the answer, as at Meta: the statuses arrive on the webhook later.
    if (message.type === "text" && a.closed.has(to)) {
      queueStatus(a, message.phoneNumberId, statusOf(message, "failed", { code: 131047, title: "Re-engagement message", details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number." }));
    } else if (a.statuses) {
      queueStatus(a, message.phoneNumberId, statusOf(message, "sent"));
      queueStatus(a, message.phoneNumberId, statusOf(message, "delivered"));
    }
  }

  return listenFake(server, port, stalled);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fake = await startFakeWhatsapp(Number(process.argv[2] ?? 0));
  console.log(fake.url);
}
