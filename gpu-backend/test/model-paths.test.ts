// PUT /admin/models/:id loads only hf: URIs and files inside MODELS_DIR (symlinks resolved first),
// and refuses everything else with one identical answer, so it cannot tell whether a file exists.
import { copyFile, mkdir, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBackend, tinyModel, user, workDir, type Backend } from "./helpers.ts";

const TOKEN = "admin-secret-0123456789";
const modelsDir = join(workDir, "allowed-models");
const outside = join(workDir, "outside");
let b: Backend;

const put = (path: unknown) =>
  fetch(`${b.url}/admin/models/probe`, { method: "PUT", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ path }) });

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

beforeAll(async () => {
  await mkdir(join(modelsDir, "sub"), { recursive: true });
  await mkdir(outside, { recursive: true });
  await copyFile(await tinyModel("never"), join(modelsDir, "inside.gguf"));
  await copyFile(await tinyModel("always"), join(modelsDir, "sub", "nested.gguf"));
  // A perfectly good model, but outside MODELS_DIR; and links inside MODELS_DIR that lead to it.
  await copyFile(await tinyModel("never"), join(outside, "secret-model.gguf"));
  await writeFile(join(outside, "notes.txt"), "not a model");
  await symlink(join(outside, "secret-model.gguf"), join(modelsDir, "link-out.gguf"));
  await symlink(outside, join(modelsDir, "dir-link"));
  await symlink(join(modelsDir, "inside.gguf"), join(modelsDir, "link-in.gguf"));
  b = await startBackend({
    MODEL: await tinyModel("never"),
    MODEL_ID: "chat",
    ADMIN_TOKEN: TOKEN,
    MODELS_DIR: modelsDir,
    HF_ENDPOINT: `http://127.0.0.1:${await closedPort()}/`,
    DOWNLOAD_STALL_SECONDS: "3",
  });
});
afterAll(() => b?.close());

describe("PUT /admin/models/:id path policy", () => {
  it("loads files inside MODELS_DIR, by absolute or relative path, and links that stay inside", async () => {
    for (const path of [join(modelsDir, "sub", "nested.gguf"), "./sub/../inside.gguf", "link-in.gguf"]) {
      const res = await put(path);
      expect([200, 201]).toContain(res.status);
    }
    const r = await b.client.chat.completions.create({ model: "probe", messages: user("x"), max_tokens: 3 });
    expect(r.usage!.completion_tokens).toBe(3);
  });

  it("refuses every path outside MODELS_DIR with one identical error, whether the file exists or not", async () => {
    const refused = [
      join(outside, "secret-model.gguf"), // exists, a valid model
      join(outside, "missing.gguf"), // does not exist
      join(outside, "notes.txt"),
      "/etc/passwd",
      "/etc/no-such-file",
      "/",
      "../outside/secret-model.gguf", // traversal from MODELS_DIR
      "../../../../../../etc/passwd",
      "link-out.gguf", // a link inside that points outside
      "dir-link/secret-model.gguf", // a linked directory that leads outside
      "missing-inside.gguf", // inside, but absent
      "sub", // a directory inside
      ".",
      modelsDir,
      "inside.gguf\u0000.txt",
      "hf:../../etc/passwd",
      "hf:user/repo/../../x.gguf",
      "hf:",
      "hf:just-a-name",
      "file:///etc/passwd",
    ];
    const bodies = new Set<string>();
    for (const path of refused) {
      const res = await put(path);
      expect(res.status, path).toBe(400);
      const text = await res.text();
      bodies.add(text);
      expect(JSON.parse(text).error).toMatchObject({ code: "path_not_allowed", param: "path" });
    }
    expect([...bodies]).toHaveLength(1); // nothing in the answer depends on the path
    expect(b.registry.get("probe")?.spec.path ?? "").not.toContain(outside);
  });

  it("lets an hf: URI through to the download (which fails here, offline) as 502", async () => {
    const res = await put("hf:someone/some-model-GGUF:Q4_K_M");
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("model_download_failed");
    // A failed download never loads the random-weight tiny model in its place.
    expect(b.registry.get("probe")?.spec.path).not.toMatch(/edgeclaw-tiny/);
  });
});
