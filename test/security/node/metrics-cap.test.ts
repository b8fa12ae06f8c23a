// A replica's metrics page (its URL is on the provider row, which a tenant may own) is read into
// the isolate on every poll: it must stop reading at its cap instead of buffering whatever the
// server sends.
import { describe, expect, it } from "vitest";
import { parseVllmLoad, readMetricsPage } from "../../../workers/router/replicas.ts";

function endlessPage(line: string, onPull: () => void): Response {
  const bytes = new TextEncoder().encode(line);
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(controller) {
        onPull();
        controller.enqueue(bytes);
      },
    }),
  );
}

describe("replica metrics page", () => {
  it("stops reading an endless page at the cap and keeps whole lines only", async () => {
    let pulls = 0;
    const text = await readMetricsPage(endlessPage("# padding line of a metrics page\n", () => pulls++), 64 * 1024);
    expect(text.length).toBeGreaterThan(60 * 1024);
    expect(text.length).toBeLessThanOrEqual(64 * 1024);
    expect(text.endsWith("\n")).toBe(true);
    // Reading stopped: a few chunks past the cap at most (the stream's queue), not an endless loop.
    expect(pulls).toBeLessThan(64 * 1024 / 33 + 10);
  });

  it("reads a normal page whole, so its gauges count", async () => {
    const page = 'vllm:num_requests_waiting{model_name="m"} 3.0\nvllm:num_requests_running{model_name="m"} 2.0\n';
    expect(parseVllmLoad(await readMetricsPage(new Response(page)))).toBe(5);
  });
});
