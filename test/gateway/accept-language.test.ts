// Accept-Language as a routing fact: the parser on header values real browsers send, and a
// conditional route that picks a per-language model from it (through the real Worker).
import { describe, expect, it } from "vitest";
import { acceptLanguageFacts, MAX_HEADER_CHARS, parseAcceptLanguage } from "../../workers/router/accept-language.ts";
import { makeRouterTenant, setConfig } from "../router/helpers.ts";
import { chat } from "./helpers.ts";

describe("parseAcceptLanguage", () => {
  it.each([
    // Chrome (Japanese UI)
    ["ja,en-US;q=0.9,en;q=0.8", ["ja", "en-US", "en"]],
    // Chrome (a Japanese locale with region)
    ["ja-JP,ja;q=0.9,en;q=0.8", ["ja-JP", "ja", "en"]],
    // Firefox (German UI)
    ["de,en-US;q=0.7,en;q=0.3", ["de", "en-US", "en"]],
    // Firefox (US English)
    ["en-US,en;q=0.5", ["en-US", "en"]],
    // Safari (British English)
    ["en-GB,en;q=0.9", ["en-GB", "en"]],
    // Chrome (Simplified Chinese, with Traditional after English)
    ["zh-CN,zh;q=0.9,en;q=0.8,zh-TW;q=0.7", ["zh-CN", "zh", "en", "zh-TW"]],
    // Edge: weights out of order, spaces, case, script subtags
    ["fr;q=0.4, ZH-hant-tw ; q=0.8 ,es-419", ["es-419", "zh-Hant-TW", "fr"]],
  ])("%s", (header, expected) => {
    expect(parseAcceptLanguage(header)).toEqual(expected);
  });

  it("leaves out q=0, keeps '*' in its place, and skips malformed parts", () => {
    expect(parseAcceptLanguage("en;q=0, fr, *;q=0.1")).toEqual(["fr", "*"]);
    expect(parseAcceptLanguage("de;q=1.5, en;q=abc, x_y, 123, toolongsubtag, it;q=0.500, ;q=0.3, es")).toEqual(["es", "it"]);
    expect(parseAcceptLanguage("")).toEqual([]);
    expect(parseAcceptLanguage(null)).toEqual([]);
    expect(parseAcceptLanguage(",,,;;;===")).toEqual([]);
  });

  it("is bounded: a huge or many-part header costs its first parts only", () => {
    const huge = `fr,${"a-".repeat(1_000_000)}b`;
    expect(parseAcceptLanguage(huge)).toEqual(["fr"]);
    const many = Array.from({ length: 10_000 }, (_, i) => `x${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26) % 26)}`).join(",");
    expect(parseAcceptLanguage(many).length).toBeLessThanOrEqual(32);
    expect(parseAcceptLanguage(`${"en;q=0.5,".repeat(200)}ja`)).toEqual(["en"]);
    expect(MAX_HEADER_CHARS).toBe(1024);
  });

  it("facts: the first preference's primary subtag, and every preference with primary subtags added", () => {
    expect(acceptLanguageFacts("ja-JP,en;q=0.8")).toEqual({ accept_language: "ja", accept_languages: ["ja-JP", "ja", "en"] });
    expect(acceptLanguageFacts("*")).toEqual({ accept_language: null, accept_languages: [] });
    expect(acceptLanguageFacts(null)).toEqual({ accept_language: null, accept_languages: [] });
  });
});

describe("routing by Accept-Language", () => {
  it("a conditional route picks a per-language model", async () => {
    const t = await makeRouterTenant();
    const target = (id: string) => ({ type: "target", id, provider: "fake", model: "fake-echo" });
    await setConfig(t, {
      routes: {
        assistant: {
          tree: {
            type: "conditional",
            rules: [
              { when: { field: "accept_language", op: "eq", value: "ja" }, node: target("ja") },
              // Any preference for German, regional or not.
              { when: { field: "accept_languages", op: "in", value: ["de"] }, node: target("de") },
              // The body's language when the browser says nothing useful.
              { when: { all: [{ not: { field: "accept_language", op: "exists" } }, { field: "language", op: "eq", value: "fr" }] }, node: target("fr") },
            ],
            default: target("en"),
          },
        },
      },
    });
    const routeFor = async (acceptLanguage: string | null, text = "hello") => {
      const res = await chat(t.key, { model: "assistant", messages: [{ role: "user", content: text }] }, acceptLanguage === null ? {} : { "accept-language": acceptLanguage });
      expect(res.status).toBe(200);
      return res.headers.get("x-edgeclaw-target");
    };
    expect(await routeFor("ja-JP,ja;q=0.9,en;q=0.8")).toBe("assistant/ja");
    expect(await routeFor("ja,en-US;q=0.9,en;q=0.8")).toBe("assistant/ja");
    // Japanese weighted below English: the first preference is English.
    expect(await routeFor("en-US,en;q=0.9,ja;q=0.8")).toBe("assistant/en");
    expect(await routeFor("en-US,de-AT;q=0.7,en;q=0.3")).toBe("assistant/de");
    expect(await routeFor("en-GB,en;q=0.9")).toBe("assistant/en");
    expect(await routeFor(null, "Bonjour, comment est le temps pour les vacances ?")).toBe("assistant/fr");
    expect(await routeFor("*", "Bonjour, comment est le temps pour les vacances ?")).toBe("assistant/fr");
    expect(await routeFor("en", "Bonjour, comment est le temps pour les vacances ?")).toBe("assistant/en");
  });
});
