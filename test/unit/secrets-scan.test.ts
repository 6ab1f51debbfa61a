/**
 * Every secret's value is looked for in everything the kit writes or shows,
 * for the dev and e2e stacks. A rendered file may hold a secret only when it is listed below for
 * it; plan.json, non-secret stack outputs and non-secret resource inputs (the program under
 * Pulumi's MOCK runtime) hold none; container environments, command lines and labels, and the
 * command lines of the scripts the kit runs over ssh (visible in `ps`), hold none even as secrets.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { runProgram, TEST_SECRETS, type ProgramRun } from "../harness/program";
import { settingsFromStackFile } from "../../infra/config";
import { plan, renderFiles } from "../../infra/render/all";
import { deriveSecrets, type Secrets } from "../../infra/secrets";

/** Where each secret must be (paths under hostDir): the file of the service that uses it. */
const MUST_HOLD: Record<string, string[]> = {
  postgresPassword: ["postgres/password"],
  "databasePasswords.synapse": ["synapse/homeserver.yaml"],
  "databasePasswords.qq": ["qq/config.yaml"],
  "databasePasswords.wechat": ["wechat/config.yaml"],
  "databasePasswords.upkeep": ["upkeep/config.json"],
  // Synapse checks it; the watchdog, the upkeep job and npm run stickers register their accounts with it.
  registrationSharedSecret: ["synapse/homeserver.yaml", "watchdog/config.json", "admin/account.json", "upkeep/config.json"],
  macaroonSecretKey: ["synapse/homeserver.yaml"],
  formSecret: ["synapse/homeserver.yaml"],
  signingKey: ["synapse/signing.key"],
  // A registration: Synapse's copy, and the bridge's config and copy.
  "qq.asToken": ["synapse/appservices/qq.yaml", "qq/config.yaml", "qq/registration.yaml"],
  "qq.hsToken": ["synapse/appservices/qq.yaml", "qq/config.yaml", "qq/registration.yaml"],
  "wechat.asToken": ["synapse/appservices/wechat.yaml", "wechat/config.yaml", "wechat/registration.yaml"],
  "wechat.hsToken": ["synapse/appservices/wechat.yaml", "wechat/config.yaml", "wechat/registration.yaml"],
  "wechat.listenSecret": ["wechat/config.yaml"],
  // The bridges and the watchdog's probe act as the owner with it.
  "doublePuppet.asToken": ["synapse/appservices/kit-doublepuppet.yaml", "qq/config.yaml", "wechat/config.yaml", "watchdog/config.json"],
  "doublePuppet.hsToken": ["synapse/appservices/kit-doublepuppet.yaml"],
  watchdogPassword: ["watchdog/config.json"],
  adminPassword: ["admin/account.json", "upkeep/config.json"],
  backupPassword: ["backup/password"],
  // In no file: the owner's account is made with it over stdin and it is shown once, as a secret output.
  ownerPassword: [],
};

/** Every derived secret by name ("qq.asToken"); the signing key by its seed, the part that is secret. */
function named(sec: Secrets): [string, string][] {
  const out: [string, string][] = [];
  const walk = (v: unknown, at: string) => {
    if (typeof v === "string") out.push([at, at === "signingKey" ? v.trim().split(" ")[2] : v]);
    else for (const [k, x] of Object.entries(v as object)) walk(x, at ? `${at}.${k}` : k);
  };
  walk(sec, "");
  return out;
}

const seed = TEST_SECRETS["matrix:secretSeed"];
const SECRETS = named(deriveSecrets(seed));
/** The stack secrets given in clear: the seed, the SSH key's body, the Cloudflare token. */
const STACK_SECRETS: [string, string][] = [
  ["secretSeed", seed],
  ["sshPrivateKey", TEST_SECRETS["matrix:sshPrivateKey"].split("\n")[1]],
  ["cloudflareApiToken", TEST_SECRETS["matrix:cloudflareApiToken"]],
];
const ALL = [...SECRETS, ...STACK_SECRETS];

function leaks(text: string): string[] {
  return ALL.filter(([, v]) => text.includes(v)).map(([k]) => k);
}

/** Every string in an input, with its dotted path as the harness records secret paths. */
function strings(v: unknown, at = ""): [string, string][] {
  if (typeof v === "string") return [[at, v]];
  if (Array.isArray(v)) return v.flatMap((x, i) => strings(x, `${at}[${i}]`));
  if (v !== null && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => strings(x, at ? `${at}.${k}` : k));
  return [];
}

test("the list is complete: every derived secret has its files (a new secret must be added here)", () => {
  assert.deepEqual(SECRETS.map(([k]) => k).sort(), Object.keys(MUST_HOLD).sort());
});

for (const stack of ["dev", "e2e"] as const) {
  describe(`stack ${stack}: no secret where it does not belong`, () => {
    const s = settingsFromStackFile(stack);
    const sec = deriveSecrets(seed);

    test("each secret is in exactly the rendered files that must hold it", () => {
      const files = renderFiles(s, sec);
      for (const [name, value] of SECRETS) {
        const where = files.filter((f) => f.content.includes(value)).map((f) => f.path.replace(`${s.hostDir}/`, ""));
        const expected = MUST_HOLD[name].filter((p) => files.some((f) => f.path === `${s.hostDir}/${p}`));
        assert.deepEqual(where.sort(), expected.sort(), name);
      }
      for (const f of files) for (const [k] of STACK_SECRETS) assert.ok(!leaks(f.content).includes(k), `${k} in ${f.path}`);
    });

    test("plan.json holds none", () => {
      assert.deepEqual(leaks(JSON.stringify(plan(s))), []);
    });

    describe("under Pulumi's MOCK runtime", () => {
      let run: ProgramRun;
      before(async () => {
        run = await runProgram({ stack, secrets: TEST_SECRETS });
      });

      test("containers: environment, command, entrypoint and labels hold none, secret-marked or not", () => {
        const containers = run.resources.filter((r) => r.type === "docker:index/container:Container");
        assert.ok(containers.length >= 4);
        for (const c of containers) {
          const shown = { envs: c.inputs.envs, command: c.inputs.command, entrypoints: c.inputs.entrypoints, labels: c.inputs.labels };
          assert.deepEqual(leaks(JSON.stringify(shown)), [], c.name);
        }
      });

      test("commands run over ssh: their command lines hold none, secret-marked or not (ps shows them)", () => {
        const commands = run.resources.filter((r) => r.type.startsWith("command:"));
        assert.ok(commands.length > 10);
        for (const c of commands) {
          assert.deepEqual(leaks(JSON.stringify([c.inputs.create, c.inputs.update, c.inputs.delete])), [], c.name);
        }
      });

      test("every input not marked secret holds none", () => {
        const secretOrUnder = (secretPaths: string[], at: string) => secretPaths.some((p) => at === p || at.startsWith(`${p}.`) || at.startsWith(`${p}[`));
        for (const r of run.resources) {
          for (const [at, v] of strings(r.inputs)) {
            if (!secretOrUnder(r.secretPaths, at)) assert.deepEqual(leaks(v), [], `${r.name}: ${at}`);
          }
        }
      });

      test("stack outputs hold none but the two secret outputs", () => {
        // Secret outputs (`pulumi stack output --show-secrets`): the WeChat agent's -s and the owner's first password.
        const { wechatListenSecret, ownerPassword, ...plain } = run.outputs;
        assert.equal(wechatListenSecret, sec.wechat.listenSecret);
        assert.equal(ownerPassword, sec.ownerPassword);
        assert.deepEqual(leaks(JSON.stringify(plain)), []);
      });
    });
  });
}
