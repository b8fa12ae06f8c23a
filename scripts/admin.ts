// `npm run admin -- <resource> <verb> [arguments] [options]`: the admin API from the command line
// (scripts/admin/: one table per resource group, the HTTP client, the output). `--help` at any
// level; docs/admin-cli.md has the reference. `npm run -s admin -- token --role owner` prints
// only a freshly minted token on stdout, so `TOKEN=$(npm run -s admin -- token ...)` works.
import { main } from "./admin/cli.ts";
import { processIo } from "./admin/io.ts";

process.exitCode = await main(process.argv.slice(2), processIo());
