/**
 * npm run render -- --stack <name> --out <dir>
 *
 * Writes every file the stack would place (under <dir>, at the path it lands on
 * the host; Cloudflare's script under <dir>/cloudflare) and <dir>/plan.json.
 * Works from the stack file alone, without the Pulumi CLI: secrets cannot be
 * decrypted here, so each shows as REDACTED-<name> and never in clear text.
 * Bad config: every problem printed, exit 1, nothing written.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { readStackFile, stackFilePath, validate } from "../config";
import { formatBudget } from "../config/budget";
import { formatCpuBudget } from "../config/cpu-budget";
import { plan, renderFiles } from "../render/all";
import type { Secrets } from "../secrets";

/** Placeholders that keep every file well-formed (YAML parses, the key file has its three fields). */
export function redactedSecrets(): Secrets {
  const r = (name: string) => `REDACTED-${name}`;
  return {
    postgresPassword: r("postgresPassword"),
    databasePasswords: { synapse: r("databasePasswords.synapse"), qq: r("databasePasswords.qq"), wechat: r("databasePasswords.wechat"), upkeep: r("databasePasswords.upkeep") },
    registrationSharedSecret: r("registrationSharedSecret"),
    macaroonSecretKey: r("macaroonSecretKey"),
    formSecret: r("formSecret"),
    signingKey: "ed25519 a_kit REDACTED-signingKey\n",
    qq: { asToken: r("qq.asToken"), hsToken: r("qq.hsToken") },
    wechat: { asToken: r("wechat.asToken"), hsToken: r("wechat.hsToken"), listenSecret: r("wechat.listenSecret") },
    doublePuppet: { asToken: r("doublePuppet.asToken"), hsToken: r("doublePuppet.hsToken") },
    watchdogPassword: r("watchdogPassword"),
    adminPassword: r("adminPassword"),
    backupPassword: r("backupPassword"),
    ownerPassword: r("ownerPassword"),
  };
}

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: { stack: { type: "string" }, out: { type: "string" }, "stack-dir": { type: "string" } },
  });
  if (!values.stack || !values.out) {
    console.error("usage: npm run render -- --stack <name> --out <dir> [--stack-dir <dir with Pulumi.<name>.yaml>]");
    return 2;
  }
  const file = values["stack-dir"] ? path.join(values["stack-dir"], `Pulumi.${values.stack}.yaml`) : stackFilePath(values.stack);
  if (!fs.existsSync(file)) {
    console.error(`no stack "${values.stack}": ${file} does not exist`);
    return 2;
  }
  const result = validate(values.stack, readStackFile(file), { requireSecrets: false });
  if (!result.ok) {
    console.error(`stack "${values.stack}" has ${result.errors.length} configuration problem(s); nothing was written:`);
    for (const e of result.errors) console.error(`  - ${e}`);
    return 1;
  }
  const out = path.resolve(values.out);
  const files = renderFiles(result.settings, redactedSecrets());
  for (const f of files) {
    const dest = path.join(out, f.path.replace(/^\//, ""));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, f.content, { mode: 0o600 });
  }
  fs.writeFileSync(path.join(out, "plan.json"), `${JSON.stringify(plan(result.settings), null, 2)}\n`);
  console.log(`stack ${values.stack}: wrote ${files.length} files and plan.json to ${out}`);
  for (const f of files) console.log(`  ${f.path}`);
  console.log(`memory budget (MiB):\n${formatBudget(result.settings.memoryBudget)}`);
  console.log(`CPU budget (caps and weights):\n${formatCpuBudget(result.settings.cpuBudget)}`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
