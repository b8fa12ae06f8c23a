// Two projects: `gateway` runs inside workerd through the Workers Vitest plugin (real D1, the
// real Worker, a local fake upstream); `e2e` runs in Node and drives `npm start`'s processes.
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Each project lists its own files under test/ (a root-level include would be merged into
    // both); gpu-backend/ has its own vitest config and never matches.
    projects: [
      {
        plugins: [
          cloudflareTest(async ({ inject }) => ({
            wrangler: { configPath: "./wrangler.jsonc" },
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations("schema/migrations"),
                FAKE_UPSTREAM_URL: inject("fakeUpstreamUrl"),
                FAKE_TELEGRAM_URL: inject("fakeTelegramUrl"),
                FAKE_SLACK_URL: inject("fakeSlackUrl"),
                FAKE_TARPIT_URL: inject("fakeTarpitUrl"),
                FAKE_DISCORD_URL: inject("fakeDiscordUrl"),
                FAKE_DISCORD_GATEWAY_URL: inject("fakeDiscordGatewayUrl"),
                FAKE_LINE_URL: inject("fakeLineUrl"),
                FAKE_FEISHU_URL: inject("fakeFeishuUrl"),
                FAKE_WHATSAPP_URL: inject("fakeWhatsappUrl"),
                TELEGRAM_TEST_BOT: "123456:fake-bot-token",
                TELEGRAM_STORM_BOT: "654321:fake-storm-bot-token",
                SEND_RETRY_BASE_MS: "50",
                TURN_RETRY_BASE_MS: "50",
                DISCORD_GATEWAY_RETRY_BASE_MS: "50",
                ADMIN_JWT_SECRET: "test-admin-jwt-secret-0123456789abcdef",
                PROVIDER_FAKE_KEY: "sk-fake-upstream-credential",
                MAX_REQUEST_BYTES: "65536",
                UPSTREAM_TIMEOUT_MS: "10000",
                SCHEDULER_RETRY_BASE_MS: "50",
                // Slow scheduler actions (test/scheduler/fairness.test.ts) end after 2 s here.
                SCHEDULER_ACTION_TIMEOUT_MS: "2000",
                WEBHOOK_TEST_SECRET: "test-webhook-secret",
                // The vault's master keys (test only): k2 seals, k1 still opens rows not yet
                // rotated (test/vault/ also runs the Worker with only k1, as before a rotation).
                VAULT_KEYS: JSON.stringify({
                  current: "k2",
                  keys: { k1: "xhZmHka4mLUPRQhnpahudfeSA8x9wbbVyrKLRKnSaO4=", k2: "Ihub3N9G1q/bqvGNy4xqmZ6Ji7EREddt7w+98EWOn0I=" },
                }),
                // The local fakes listen on 127.0.0.1 over http: the outbound-URL policy's
                // deployment opt-in lets exactly that host through (every other private address
                // stays refused, which test/security/ checks).
                OUTBOUND_ALLOW_HOSTS: "127.0.0.1",
              },
              // The per-location channel gate at half wrangler.jsonc's 3,000 a minute: still above
              // the busiest test account (the 1,100-message storm), low enough that a test can
              // spend a window quickly (test/channels/ingress-limits.test.ts).
              ratelimits: { CHANNEL_INGRESS: { namespace_id: "1001", simple: { limit: 1500, period: 60 } } },
            },
          })),
        ],
        test: {
          name: "gateway",
          include: ["test/gateway/**/*.test.ts", "test/router/**/*.test.ts", "test/channels/**/*.test.ts", "test/scheduler/**/*.test.ts", "test/security/**/*.test.ts", "test/vault/**/*.test.ts", "test/usage/**/*.test.ts", "test/observability/**/*.test.ts", "test/metrics/**/*.test.ts", "test/audit/**/*.test.ts", "test/console/worker/**/*.test.ts", "test/openapi/**/*.test.ts"],
          // test/security/node/ holds the Node-only static checks (project "security" below).
          exclude: ["test/security/node/**"],
          globalSetup: ["test/fakes/global-setup.ts"],
          setupFiles: ["test/gateway/setup.ts"],
          // Console output goes through workerd's own stdout, not vitest's per-test console RPC.
          // With the intercept, a console call made outside the test runner's context (a request
          // handler's after-answer work, a queue consumer delivery, a Durable Object alarm) is
          // parked until the runner's next message; one made after a file's last message is never
          // sent, and vitest waits for its answer forever: the file never ends and the run hangs
          // after every test passed (workers-sdk issues 15498 and 15719). The cost: console lines
          // are printed without the test that wrote them.
          disableConsoleIntercept: true,
        },
      },
      {
        // Static checks of the source in Node (recheck and the TypeScript API spawn processes,
        // which workerd cannot): e.g. every regex is checked for super-linear backtracking.
        test: {
          name: "security",
          include: ["test/security/node/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        // The generated wrangler.jsonc, its types and `npm run deploy` (dry run, and the real mode
        // against a recorded wrangler CLI contract): Node, spawning wrangler.
        test: {
          name: "deploy",
          include: ["test/deploy/**/*.test.ts", "test/cli/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts", "test/console/**/*.e2e.test.ts"],
          environment: "node",
          testTimeout: 240_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
