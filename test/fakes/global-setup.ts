// vitest globalSetup for the Workers-pool tests: a real local HTTP server stands in for the
// OpenAI-compatible upstream; its URL reaches the Worker as the FAKE_UPSTREAM_URL binding.
import type { TestProject } from "vitest/node";
import { startFakeUpstream } from "./openai-upstream.ts";

export default async function setup(project: TestProject) {
  const fake = await startFakeUpstream();
  project.provide("fakeUpstreamUrl", fake.url);
  return () => fake.close();
}

declare module "vitest" {
  interface ProvidedContext {
    fakeUpstreamUrl: string;
  }
}
