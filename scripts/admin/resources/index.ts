// Every resource of the CLI, in the order --help lists them.
import type { Resource } from "../spec.ts";
import { agents, bindings, channels } from "./channels.ts";
import { jobs } from "./jobs.ts";
import { models, providers, routes } from "./models.ts";
import { audit, usage } from "./records.ts";
import { deadLetters, pairings, sessions } from "./sessions.ts";
import { keys, secrets, tenants } from "./tenancy.ts";
import { tokens } from "./tokens.ts";

export const resources: Resource[] = [tenants, keys, providers, models, routes, secrets, channels, agents, bindings, sessions, deadLetters, pairings, jobs, audit, usage, tokens];
