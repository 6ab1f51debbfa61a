/**
 * The owner's account, made by `pulumi up` once Synapse is healthy (templates/owner): a program
 * for Synapse's own Python, run inside its container. Pure: settings and secrets in, the program's
 * text out (a secret as a whole: the owner's first password and the shared secret are in it).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Secrets } from "../secrets";
import { containerName, type Settings } from "../settings";
import { SYNAPSE_PORT } from "./addresses";
import { shellQuote } from "./templates";

const TEMPLATES = path.resolve(__dirname, "../../templates");

/** `docker exec` of Synapse's Python, reading its program from stdin. */
export function ownerAccountCommand(s: Settings): string {
  return `docker exec -i ${shellQuote(containerName(s, "synapse"))} python -`;
}

export function ownerAccountProgram(s: Settings, sec: Secrets, password: string): string {
  const config = {
    homeserver: `http://localhost:${SYNAPSE_PORT}`,
    sharedSecret: sec.registrationSharedSecret,
    localpart: s.admin,
    userId: `@${s.admin}:${s.domain}`,
    password,
  };
  return [
    fs.readFileSync(path.join(TEMPLATES, "python/kit_matrix.py"), "utf8"),
    `CONFIG = json.loads(${JSON.stringify(JSON.stringify(config))})`,
    fs.readFileSync(path.join(TEMPLATES, "owner/register_owner.py"), "utf8"),
  ].join("\n");
}
