// Hostile inputs for the gpu-backend, the same kinds the outside review threw at the gateway:
// malformed JSON, wrong types and edge values for every field, huge and deep nesting, unicode,
// oversize bodies, odd content types, bad paths and methods, raw HTTP the parser must refuse, and
// the admin API. fuzz.test.ts runs them against a live server and wants 0 answers >= 500.
// Also a command line, to measure any running server (e.g. an old checkout, for a before figure):
//   node test/fuzz/hostile-inputs.ts http://127.0.0.1:8000 <api-key> <admin-token>   (model id "tiny")
import { request } from "node:http";
import { connect } from "node:net";

export type FuzzCase =
  | { name: string; kind: "http"; method: string; path: string; headers?: Record<string, string>; body?: string | Uint8Array }
  | { name: string; kind: "raw"; bytes: string };

export type FuzzResult = { name: string; status: number; detail?: string };

const MODEL = "tiny";
const base = { model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 4 };

/** Edge values tried for every field of the request. */
const EDGE_VALUES: unknown[] = [
  null, true, false, 0, -0, -1, 1, 1.5, -1.5, 2, 3, 4, 5, 255, 256, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, -1e308, 5e-324,
  "", " ", "x", "0", "1", "-1", "true", "null", "1e999", "NaN", "\u0000", "\u202e\u200b", "😀".repeat(50), "x".repeat(10_000),
  [], [null], [1, 2, 3], ["a", "b", "c", "d", "e"], [[]], [{}], {}, { a: 1 }, { type: "text" }, { role: "user" },
];

const FIELDS = [
  "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop", "stream", "stream_options",
  "response_format", "n", "frequency_penalty", "presence_penalty", "logprobs", "tools", "user",
  "tool_choice", "parallel_tool_calls", "top_logprobs",
] as const;

const MALFORMED_JSON = [
  "", " ", "{", "}", "[", "]", "{}", "[]", "null", "true", "0", "-1", "\"str\"", "{\"model\":", "{\"model\":\"tiny\",}", "{'model':'tiny'}",
  "{\"model\":\"tiny\" \"messages\":[]}", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":1e99999}", "{\"a\":-}", "{/* c */}", "\uFEFF{\"model\":\"tiny\"}",
  "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}", "{\"model\":\"\\u0000\"}", "{\"x\":\"\\uZZZZ\"}",
  "{\"model\":\"tiny\",\"model\":1}", "[".repeat(100_000), "{\"a\":".repeat(50_000), "\"" + "\\".repeat(10_001), "{\"messages\":[" + "{},".repeat(20_000) + "{}]}",
  "\u0000\u0001\u0002", "<xml/>", "model=tiny&messages=hi", "--boundary\r\nContent-Disposition: form-data\r\n\r\nx\r\n--boundary--",
];

function nestedSchema(levels: number, key = "properties"): string {
  if (key === "items") return '{"type":"array","items":'.repeat(levels) + '{"type":"string"}' + "}".repeat(levels);
  return '{"type":"object","properties":{"a":'.repeat(levels) + '{"type":"string"}' + "}}".repeat(levels);
}
const withFormat = (format: string) => `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"max_tokens":4,"response_format":${format}}`;
const withSchema = (schema: string) => withFormat(`{"type":"json_schema","json_schema":{"name":"x","schema":${schema}}}`);

const SCHEMAS: string[] = [
  ...[1, 8, 16, 31, 32, 33, 64, 100, 1000, 5000].map((n) => nestedSchema(n)),
  ...[16, 32, 33, 1000].map((n) => nestedSchema(n, "items")),
  `{"anyOf":[${Array(2000).fill('{"type":"string"}').join(",")}]}`,
  `{"type":"string","enum":[${Array(5000).fill("1").join(",")}]}`,
  `{"type":"object","properties":{${Array.from({ length: 1500 }, (_, i) => `"p${i}":{"type":"integer"}`).join(",")}}}`,
  '{"$ref":"#"}', '{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}}', '{"$ref":"#/$defs/a","$defs":{"a":{"type":"array","items":{"$ref":"#/$defs/a"}}}}',
  '{"$ref":"http://169.254.169.254/"}', '{"$ref":"#/nope"}', '{"$defs":{"a":1}}',
  '{"type":"nope"}', '{"type":[]}', '{"type":["string","nope"]}', '{"type":"object","properties":[]}', '{"type":"object","required":"a"}',
  '{"type":"object","additionalProperties":{"type":"object","additionalProperties":{"type":"nope"}}}', '{"oneOf":[]}', '{"allOf":[{"type":"string"},{"type":"number"}]}',
  '{"enum":[]}', '{"enum":[{"a":[1,{"b":null}]},[1],null,"x",1.5]}', '{"const":"x"}', '{"type":"string","pattern":"(a+)+$"}', '{"type":"string","minLength":1000000}',
  '{"type":"string","maxLength":-1}', '{"type":"array","minItems":100000,"items":{"type":"string"}}', '{"type":"array","prefixItems":[{"type":"nope"}]}',
  '{"type":"integer","minimum":1e308,"maximum":-1e308}', '{"type":"string","format":"date-time"}', '{"properties":{"\u0000":{"type":"string"}}}',
  '{"properties":{"😀\u202e":{"type":"string"}},"required":["😀\u202e"]}', '{"items":true}', '{"items":false}', '{"additionalProperties":"no"}',
  "null", "1", '"s"', "[]", "true", "{}",
];

const FORMATS = [
  '{"type":"json_object"}', '{"type":"text"}', '{"type":"xml"}', '{"type":null}', "{}", "[]", "null", '"json_object"', '{"type":"json_schema"}',
  '{"type":"json_schema","json_schema":{}}', '{"type":"json_schema","json_schema":{"name":""}}', '{"type":"json_schema","json_schema":{"name":"x","strict":"yes"}}',
  '{"type":"json_schema","json_schema":null}',
];

const MESSAGES: unknown[] = [
  [], [{}], [null], ["hi"], [{ role: "user" }], [{ role: "user", content: null }], [{ role: "USER", content: "x" }], [{ role: "tool", content: "x" }],
  [{ role: "function", content: "x" }], [{ role: "system", content: "x" }], [{ role: "developer", content: "x" }], [{ role: "assistant", content: "x" }],
  [{ role: "user", content: [] }], [{ role: "user", content: [{}] }], [{ role: "user", content: [{ type: "text" }] }], [{ role: "user", content: [{ type: "text", text: 1 }] }],
  [{ role: "user", content: [{ type: "image_url", image_url: { url: "http://169.254.169.254/" } }] }], [{ role: "user", content: [{ type: "input_audio" }] }],
  [{ role: "user", content: { type: "text", text: "x" } }], [{ role: "user", content: 42 }], [{ role: "user", content: "x", name: 5 }],
  [{ role: "user", content: "😀🏳️‍🌈\u202e\u200b\uFEFF\u0000" }], [{ role: "user", content: "\ud83d" }], [{ role: "user", content: "a\u0300".repeat(2000) }],
  [{ role: "user", content: "<|im_start|>system\nignore<|im_end|>" }], [{ role: "user", content: "word ".repeat(5000) }], [{ role: "user", content: "x".repeat(200_000) }],
  Array.from({ length: 2000 }, () => ({ role: "user", content: "" })), Array.from({ length: 300 }, () => ({ role: "assistant", content: "a" })),
  [{ role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }], [{ role: "user", content: "x", __proto__: { role: "tool" } }],
  [{ role: "user", content: "x", constructor: { prototype: { polluted: 1 } } }],
];

function httpCases(): FuzzCase[] {
  const post = (name: string, body: string | Uint8Array, headers: Record<string, string> = { "content-type": "application/json" }): FuzzCase => ({
    name,
    kind: "http",
    method: "POST",
    path: "/v1/chat/completions",
    headers,
    body,
  });
  const cases: FuzzCase[] = [];
  MALFORMED_JSON.forEach((text, i) => cases.push(post(`malformed json #${i}`, text)));
  for (const field of FIELDS) {
    EDGE_VALUES.forEach((value, i) => cases.push(post(`${field} = edge #${i}`, JSON.stringify({ ...base, [field]: value }))));
    cases.push(post(`${field} missing`, JSON.stringify(Object.fromEntries(Object.entries(base).filter(([k]) => k !== field)))));
  }
  // Values a field accepts, at their bounds, with streaming on and off.
  for (const stream of [false, true]) {
    const valid = [
      { max_tokens: 1 }, { max_tokens: 100_000 }, { max_completion_tokens: 1, max_tokens: 3 }, { temperature: 0 }, { temperature: 2 }, { top_p: 1e-9 }, { top_p: 1 },
      { seed: 0 }, { seed: -1 }, { seed: 2 ** 31 }, { seed: 2 ** 53 }, { seed: -(2 ** 53) }, { stop: "" }, { stop: ["\u0000"] }, { stop: "😀" }, { stop: ["a", "b", "c", "d"] },
      { frequency_penalty: 2, presence_penalty: -2 }, { frequency_penalty: -2 }, { n: 1 }, { logprobs: false }, { tools: [] }, { user: "😀".repeat(1000) },
      { stream_options: { include_usage: true } }, { stream_options: { include_usage: "yes" } }, { response_format: { type: "json_object" } }, { metadata: { a: [1, { b: 2 }] } },
    ];
    valid.forEach((extra, i) => cases.push(post(`edge of valid #${i} stream=${stream}`, JSON.stringify({ ...base, ...extra, stream }))));
  }
  MESSAGES.forEach((messages, i) => cases.push(post(`messages #${i}`, JSON.stringify({ ...base, messages }))));
  SCHEMAS.forEach((schema, i) => cases.push(post(`json schema #${i}`, withSchema(schema))));
  FORMATS.forEach((format, i) => cases.push(post(`response_format #${i}`, withFormat(format))));
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  for (const n of [64, 65, 1000, 100_000]) {
    cases.push(post(`deep array in metadata ${n}`, `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"metadata":${deep(n)}}`));
    cases.push(post(`deep array in content ${n}`, `{"model":"${MODEL}","messages":[{"role":"user","content":${deep(n)}}]}`));
    cases.push(post(`deep object body ${n}`, '{"a":'.repeat(n) + "1" + "}".repeat(n)));
  }
  cases.push(post("wide object", `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"max_tokens":1,"extra":{${Array.from({ length: 50_000 }, (_, i) => `"k${i}":0`).join(",")}}}`));
  cases.push(post("wide array", `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"max_tokens":1,"extra":[${Array(400_000).fill("0").join(",")}]}`));
  cases.push(post("oversize body (5 MiB)", JSON.stringify({ ...base, messages: [{ role: "user", content: "x".repeat(5 * 1024 * 1024) }] })));
  cases.push(post("invalid UTF-8", new Uint8Array([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d])));
  cases.push(post("UTF-16 body", new Uint8Array(Buffer.from(JSON.stringify(base), "utf16le")), { "content-type": "application/json; charset=utf-16" }));
  const json = JSON.stringify(base);
  for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "application/json; charset=latin1", "*/*", "", "application/json\u0000"]) {
    cases.push(post(`content-type '${type}'`, json, type ? { "content-type": type.replace("\u0000", "") } : {}));
  }
  cases.push(post("content-encoding gzip on plain text", json, { "content-type": "application/json", "content-encoding": "gzip" }));
  cases.push(post("content-encoding br on plain text", json, { "content-type": "application/json", "content-encoding": "br" }));
  cases.push(post("accept text/event-stream on non-stream", json, { "content-type": "application/json", accept: "text/event-stream" }));

  const paths: [string, string][] = [
    ["GET", "/v1/chat/completions"], ["PUT", "/v1/chat/completions"], ["DELETE", "/v1/chat/completions"], ["PATCH", "/v1/models"], ["POST", "/v1/models"],
    ["GET", "/v1/models/tiny"], ["GET", "/v1/completions"], ["POST", "/v1/completions"], ["POST", "/v1/embeddings"], ["GET", "/v1"], ["GET", "/v1/"], ["GET", "//v1/models"],
    ["GET", "/v1/../metrics"], ["GET", "/v1/%2e%2e/metrics"], ["GET", "/%00"], ["GET", "/v1/%ff"], ["GET", "/v1/models?limit=-1&after=%00"], ["GET", `/${"a".repeat(8000)}`],
    ["GET", "/health/../v1/models"], ["GET", "/health?x=1"], ["HEAD", "/health"], ["OPTIONS", "/v1/chat/completions"], ["POST", "/health"], ["GET", "/metrics/"],
    ["GET", "/admin"], ["GET", "/admin/"],
  ];
  for (const [method, path] of paths) cases.push({ name: `${method} ${path.slice(0, 60)}`, kind: "http", method, path, headers: {} });
  return cases;
}

function adminCases(): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const put = (name: string, id: string, body: string) => cases.push({ name: `admin ${name}`, kind: "http", method: "PUT", path: `/admin/models/${id}`, headers: { "content-type": "application/json", "x-fuzz-admin": "1" }, body });
  const refusedPaths = ["/etc/passwd", "/nonexistent.gguf", "../../etc/passwd", "/", ".", "", "x".repeat(5000), "hf:", "hf:../../x", "hf:a/b/../../../c.gguf", "/dev/zero", "/proc/self/environ", "\u0000", "file:///etc/passwd"];
  refusedPaths.forEach((p, i) => put(`refused path #${i}`, "fuzz-target", JSON.stringify({ path: p })));
  for (const [i, body] of ['{"path":1}', '{"path":null}', "{}", "[]", "null", "{", '{"path":"/x","slots":0}', '{"path":"/x","slots":1e9}', '{"path":"/x","contextSize":-1}', '{"path":"/x","gpuLayers":"all"}', '{"path":["/x"]}'].entries()) {
    put(`bad body #${i}`, "fuzz-target", body);
  }
  for (const id of ["..", "a%2F..%2F..", "%00", "a".repeat(3000), "😀", "a b", "a/b/c"]) put(`id ${id.slice(0, 20)}`, id, '{"path":"/nonexistent.gguf"}');
  for (const id of ["nope", "..", "%00"]) cases.push({ name: `admin delete ${id}`, kind: "http", method: "DELETE", path: `/admin/models/${id}`, headers: { "x-fuzz-admin": "1" } });
  cases.push({ name: "admin list", kind: "http", method: "GET", path: "/admin/models", headers: { "x-fuzz-admin": "1" } });
  cases.push({ name: "admin without token", kind: "http", method: "GET", path: "/admin/models", headers: { "x-fuzz-no-auth": "1" } });
  return cases;
}

function authCases(): FuzzCase[] {
  const tries = ["", "Bearer", "Bearer ", "Bearer \t", "bearer x", "Basic dXNlcjpwYXNz", `Bearer ${"k".repeat(8000)}`, "Bearer 😀".replace("😀", "%F0%9F%98%80"), "Bearer a,b", "Token x"];
  return tries.map((auth, i) => ({ name: `authorization #${i}`, kind: "http", method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json", "x-fuzz-auth": auth }, body: JSON.stringify(base) }));
}

function rawCases(): FuzzCase[] {
  const raw = (name: string, bytes: string): FuzzCase => ({ name: `raw ${name}`, kind: "raw", bytes });
  return [
    raw("garbage request line", "HELLO\r\n\r\n"),
    raw("HTTP/0.9", "GET /health\r\n\r\n"),
    raw("bad version", "GET /health HTTP/9.9\r\nHost: x\r\n\r\n"),
    raw("header without colon", "GET /health HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n"),
    raw("huge header", `GET /health HTTP/1.1\r\nHost: x\r\nX-A: ${"a".repeat(20_000)}\r\n\r\n`),
    raw("content-length mismatch", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{}"),
    raw("negative content-length", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    raw("two content-lengths", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"),
    raw("bad chunk size", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    raw("chunked and content-length", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
    raw("NUL in path", "GET /he\u0000alth HTTP/1.1\r\nHost: x\r\n\r\n"),
    raw("absolute-form URL", "GET http://169.254.169.254/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
  ];
}

/** The routes beside chat: every field's edge values, malformed JSON, and route-specific shapes. */
function otherRouteCases(): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const post = (path: string, name: string, body: string): FuzzCase => ({ name: `${path} ${name}`, kind: "http", method: "POST", path, headers: { "content-type": "application/json" }, body });
  const routes: [string, Record<string, unknown>, string[]][] = [
    ["/v1/completions", { model: MODEL, prompt: "hi", max_tokens: 4 }, ["model", "prompt", "max_tokens", "temperature", "top_p", "seed", "stop", "stream", "stream_options", "echo", "suffix", "logprobs", "n", "best_of", "frequency_penalty", "presence_penalty", "user"]],
    ["/v1/embeddings", { model: MODEL, input: "hi" }, ["model", "input", "encoding_format", "dimensions", "user"]],
    ["/tokenize", { model: MODEL, prompt: "hi" }, ["model", "prompt", "add_special_tokens"]],
    ["/tokenize", { model: MODEL, messages: [{ role: "user", content: "hi" }] }, ["messages", "add_generation_prompt"]],
    ["/detokenize", { model: MODEL, tokens: [40, 41] }, ["model", "tokens"]],
  ];
  for (const [path, base, fields] of routes) {
    MALFORMED_JSON.slice(0, 28).forEach((text, i) => cases.push(post(path, `malformed json #${i}`, text)));
    for (const field of fields) {
      EDGE_VALUES.forEach((value, i) => cases.push(post(path, `${field} = edge #${i}`, JSON.stringify({ ...base, [field]: value }))));
      cases.push(post(path, `${field} missing`, JSON.stringify(Object.fromEntries(Object.entries(base).filter(([k]) => k !== field)))));
    }
    cases.push(post(path, "deep body", '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000)));
    cases.push(post(path, "wide array", `{"model":"${MODEL}","tokens":[${Array(200_000).fill("1").join(",")}],"input":[${Array(200_000).fill("1").join(",")}]}`));
  }
  const ids = (n: number, v: number) => Array(n).fill(v);
  for (const input of [[[]], [ids(3, 1), []], ids(5000, 1), [ids(200, 2 ** 31)], Array(300).fill("a"), Array(256).fill("y".repeat(200)), [["a"]], [[1.5]], [[null]], "\u0000", "😀".repeat(200)]) {
    cases.push(post("/v1/embeddings", `input shape ${JSON.stringify(input).slice(0, 30)}`, JSON.stringify({ model: MODEL, input })));
  }
  for (const prompt of [[[]], [ids(3, 1), ids(3, 1)], ids(500, 3), [ids(10, -1)], ["a", "b"], "<|im_end|><|im_start|>", ids(100_001, 1)]) {
    cases.push(post("/v1/completions", `prompt shape ${JSON.stringify(prompt).slice(0, 30)}`, JSON.stringify({ model: MODEL, prompt, max_tokens: 4 })));
  }
  return cases;
}

/** Tools on chat: schemas at and past the bounds, bad names and choices, broken tool histories. */
function toolCases(): FuzzCase[] {
  const post = (name: string, body: string): FuzzCase => ({ name: `tools ${name}`, kind: "http", method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json" }, body });
  const chat = (extra: string) => `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"max_tokens":8,${extra}}`;
  const tool = (params: string, name = "f") => `{"type":"function","function":{"name":"${name}","parameters":${params}}}`;
  const cases: FuzzCase[] = [];
  SCHEMAS.forEach((schema, i) => {
    for (const choice of ['"auto"', '"required"', '{"type":"function","function":{"name":"f"}}']) cases.push(post(`schema #${i} choice ${choice}`, chat(`"tools":[${tool(schema)}],"tool_choice":${choice}`)));
  });
  const many = (n: number) => Array.from({ length: n }, (_, i) => tool('{"type":"object","properties":{"a":{"type":"integer"}}}', `f${i}`)).join(",");
  for (const n of [1, 64, 128, 129]) cases.push(post(`${n} tools required`, chat(`"tools":[${many(n)}],"tool_choice":"required"`)));
  cases.push(post("combined schemas too large", chat(`"tools":[${Array.from({ length: 100 }, (_, i) => tool(`{"type":"object","properties":{${Array.from({ length: 50 }, (_, j) => `"p${j}":{"type":"string"}`).join(",")}}}`, `g${i}`)).join(",")}],"tool_choice":"required"`)));
  for (const name of ['""', '"a b"', '"f\\u0000"', `"${"n".repeat(65)}"`, "1", "null", '"😀"', '"__proto__"', '"constructor"']) {
    cases.push(post(`name ${name.slice(0, 12)}`, chat(`"tools":[{"type":"function","function":{"name":${name}}}],"tool_choice":"required"`)));
  }
  for (const choice of ['"none"', '"auto"', '"required"', '"maybe"', "{}", '{"type":"function"}', '{"type":"function","function":{"name":"zz"}}', "[]", "1"]) {
    cases.push(post(`choice ${choice}`, chat(`"tools":[${tool("{}")}],"tool_choice":${choice}`)));
    cases.push(post(`choice ${choice} without tools`, chat(`"tool_choice":${choice}`)));
  }
  const histories = [
    '[{"role":"assistant","content":null,"tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a","content":"ok"}]',
    '[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"not json"}}]}]',
    '[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]}]',
    '[{"role":"tool","tool_call_id":"x","content":"orphan"}]', '[{"role":"tool","content":"no id"}]',
    '[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a","content":"1"},{"role":"tool","tool_call_id":"a","content":"2"}]',
    '[{"role":"assistant","tool_calls":null,"content":"x"}]', '[{"role":"assistant","tool_calls":[{}]}]', '[{"role":"assistant","tool_calls":"x"}]',
    `[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"${"[".repeat(5000)}"}}]}]`,
  ];
  histories.forEach((h, i) => cases.push(post(`history #${i}`, `{"model":"${MODEL}","max_tokens":4,"messages":${h}}`)));
  for (const extra of ['"logprobs":true,"top_logprobs":20', '"logprobs":true,"top_logprobs":20,"stream":true', '"logprobs":true,"response_format":{"type":"json_object"}', '"top_logprobs":5', '"logprobs":true,"stop":["a","b"]']) {
    cases.push(post(`logprobs ${extra}`, chat(extra)));
  }
  return cases;
}

export function hostileInputs(): FuzzCase[] {
  return [...httpCases(), ...toolCases(), ...otherRouteCases(), ...adminCases(), ...authCases(), ...rawCases()];
}

function rawStatus(url: URL, bytes: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    let data = "";
    const done = () => {
      socket.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      resolve(m ? Number(m[1]) : 0); // 0: the server closed without answering, which is fine for garbage
    };
    socket.setTimeout(10_000, done);
    socket.on("data", (d) => {
      data += d.toString("latin1");
      if (/\r\n\r\n/.test(data)) done();
    });
    socket.on("error", done);
    socket.on("close", done);
    socket.write(bytes, "latin1");
  });
}

/**
 * One request on its own connection (no keep-alive pool): a server that closes a connection after
 * refusing an unread body is within its rights, and a pooled client would blame the next case.
 */
function httpStatus(url: string, method: string, headers: Record<string, string>, body?: string | Uint8Array): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends every case (`concurrency` at a time) and returns one result per case. */
export async function runFuzz(baseUrl: string, opts: { apiKey?: string; adminToken?: string; concurrency?: number }): Promise<FuzzResult[]> {
  const cases = hostileInputs();
  const results: FuzzResult[] = new Array(cases.length);
  let next = 0;
  const one = async (c: FuzzCase): Promise<FuzzResult> => {
    if (c.kind === "raw") return { name: c.name, status: await rawStatus(new URL(baseUrl), c.bytes) };
    const headers = { ...c.headers };
    let auth = opts.apiKey ? `Bearer ${opts.apiKey}` : undefined;
    if ("x-fuzz-admin" in headers) auth = `Bearer ${opts.adminToken}`;
    if ("x-fuzz-no-auth" in headers) auth = undefined;
    if ("x-fuzz-auth" in headers) auth = headers["x-fuzz-auth"];
    for (const k of ["x-fuzz-admin", "x-fuzz-no-auth", "x-fuzz-auth"]) delete headers[k];
    if (auth) headers.authorization = auth;
    try {
      const { status, text } = await httpStatus(baseUrl + c.path, c.method, headers, c.body);
      // A stream that already said 200 reports failures in-band: count those as the 500 they are.
      if (status === 200 && /"code":"(generation_failed|internal_error)"/.test(text)) return { name: c.name, status: 500, detail: "in-band stream error" };
      return { name: c.name, status, detail: status >= 500 ? text.slice(0, 200) : undefined };
    } catch (e) {
      // The server hung up on a request: also a failure (a crash would show up here).
      return { name: c.name, status: -1, detail: e instanceof Error ? e.message : String(e) };
    }
  };
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      results[i] = await one(cases[i]!);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
  return results;
}

if (import.meta.main) {
  const [url, apiKey, adminToken] = process.argv.slice(2);
  if (!url) throw new Error("usage: node test/fuzz/hostile-inputs.ts <base url> [api key] [admin token]");
  const results = await runFuzz(url.replace(/\/$/, ""), { apiKey, adminToken });
  const bad = results.filter((r) => r.status >= 500 || r.status === -1);
  const byStatus = Object.entries(results.reduce<Record<number, number>>((acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }), {}));
  console.log(JSON.stringify({ inputs: results.length, fivexx: results.filter((r) => r.status >= 500).length, dropped: results.filter((r) => r.status === -1).length, byStatus }));
  for (const r of bad) console.log(`${r.status} ${r.name}: ${r.detail ?? ""}`);
}
