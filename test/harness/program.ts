/**
 * Runs the real program in infra/ under Pulumi's mock runtime (the Pulumi CLI
 * and provider plugins cannot run here) and records every resource as it is
 * registered: type, name, and inputs with secrets unwrapped plus the paths of
 * the values that were secret. This is NOT a deployment: the unit tests assert
 * on the recording, the e2e harness applies it to a real engine and host.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { readStackFile, stackFilePath } from "../../infra/config";
import { REPOSITORY_OK } from "../../infra/render/backup";
import { computedOutputs } from "./computed";
import { HOST_KEY_OK } from "../../infra/render/ssh";

/** Pulumi's marker for a secret value on the wire. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, any>;
  /** Dotted paths of inputs that arrived as Pulumi secrets. */
  secretPaths: string[];
  /**
   * Names of the resources this one depends on (its parent's and `dependsOn`'s, components
   * expanded to their children, as the engine stores them): the engine deletes a resource
   * before anything it depends on.
   */
  dependencies: string[];
}

export interface ProgramRun {
  resources: Recorded[];
  /** Invokes (data-source calls) in the order the program made them. */
  invokes: { token: string; inputs: Record<string, any> }[];
  outputs: Record<string, unknown>;
}

function unwrap(v: any, at: string, secrets: string[]): any {
  if (v !== null && typeof v === "object") {
    if (v[SECRET_SIG] === SECRET_VALUE) {
      secrets.push(at);
      return unwrap(v.value, at, []);
    }
    if (Array.isArray(v)) return v.map((x, i) => unwrap(x, `${at}[${i}]`, secrets));
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x, at ? `${at}.${k}` : k, secrets)]));
  }
  return v;
}

/** Config for a run: the stack file's values, plus extra (plain) and secret values. */
export interface RunConfig {
  stack: string;
  /** Replace or add plain keys (full keys, e.g. "matrix:synapse"). */
  values?: Record<string, unknown>;
  /** Secret keys and their clear values. */
  secrets?: Record<string, string>;
  /** Start from stacks/Pulumi.<stack>.yaml (default true). */
  fromStackFile?: boolean;
  /** Run as `pulumi preview` does (the runtime's dry run); default: as `pulumi up`. */
  preview?: boolean;
  /** The zone's DNS records for <domain> that the MOCK of Cloudflare's API answers (default none). */
  cloudflareRecords?: { type: string; content: string; proxied: boolean; comment: string }[];
  /**
   * "run": carry out `command:local:run` invokes on this machine while the program
   * runs, as the command provider does on every preview and up (the e2e run);
   * "record" (default): only record them and answer (a MOCK answer, unit tests) as each check
   * does when all is well (mockCheckAnswer); a function: record and
   * answer with its stdout (a unit test playing another answer).
   */
  invokes?: "record" | "run" | ((inputs: Record<string, any>) => string);
}

/**
 * The command provider's `local.run`: the command through its interpreter; a non-zero
 * exit fails the invoke, and with it the program. (The real provider's error wraps
 * stderr in its own words; the script's own message is the same.)
 */
function runLocalInvoke(inputs: Record<string, any>): Record<string, unknown> {
  const [cmd, ...pre] = (inputs.interpreter as string[] | undefined) ?? ["/bin/sh", "-c"];
  const r = spawnSync(cmd, [...pre, String(inputs.command)], { input: inputs.stdin ?? "", encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`local.run failed (exit ${r.status}): ${r.stderr.trim()}`);
  return { ...inputs, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

/**
 * The MOCK answer to one of the program's checks (preflight.ts): what the check prints last when
 * all is well (the VPS presents the configured key; it opens the backup repository). Each check's
 * script holds its own "ok" line.
 */
function mockCheckAnswer(script: string): string {
  const ok = [HOST_KEY_OK, REPOSITORY_OK].find((line) => script.includes(line));
  if (!ok) throw new Error(`harness: no MOCK answer for this check:\n${script}`);
  return ok;
}

const INFRA = path.resolve(__dirname, "../../infra");

/** The runtime's view of a run's config: every value as text (objects as JSON), and the secret keys. */
export function runtimeConfig(rc: RunConfig): { config: Record<string, string>; secretKeys: string[] } {
  const file = rc.fromStackFile === false ? { values: {} } : readStackFile(stackFilePath(rc.stack));
  const values: Record<string, unknown> = { ...file.values, ...(rc.values ?? {}) };
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    // Encrypted values from a stack file cannot be decrypted here; tests pass clear secrets instead.
    if (v !== null && typeof v === "object" && "secure" in (v as object)) continue;
    config[k] = typeof v === "string" ? v : JSON.stringify(v);
  }
  for (const [k, v] of Object.entries(rc.secrets ?? {})) config[k] = v;
  return { config, secretKeys: Object.keys(rc.secrets ?? {}) };
}

export async function runProgram(rc: RunConfig): Promise<ProgramRun> {
  const { config, secretKeys } = runtimeConfig(rc);

  const resources: Recorded[] = [];
  const invokes: ProgramRun["invokes"] = [];
  const failures: unknown[] = [];
  let last = Date.now();
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        last = Date.now();
        const secretPaths: string[] = [];
        const inputs = unwrap(args.inputs, "", secretPaths);
        resources.push({ type: args.type, name: args.name, inputs, secretPaths, dependencies: dependencies.get(args.name) ?? [] });
        // What the tls provider and (a MOCK of) Cloudflare's Origin CA compute: test/harness/computed.ts.
        return { id: `${args.name}-id`, state: { ...inputs, ...(computedOutputs(args.type, args.name, inputs) ?? {}) } };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        last = Date.now();
        const inputs = unwrap(args.inputs, "", []);
        invokes.push({ token: args.token, inputs });
        if (rc.invokes === "run" && args.token === "command:local:run") {
          try {
            return runLocalInvoke(inputs);
          } catch (e) {
            // The program stops here: what waits on this invoke is never registered (as under
            // the engine, which fails the run), and the run fails with the invoke's error.
            failures.push(e);
            return new Promise(() => {});
          }
        }
        if (args.token === "command:local:run") {
          const stdout = typeof rc.invokes === "function" ? rc.invokes(inputs) : mockCheckAnswer(String(inputs.command));
          return { ...args.inputs, stdout, stderr: "" };
        }
        // A MOCK of Cloudflare's API: the zone's records for the name asked (none unless the test gives some).
        if (args.token === "cloudflare:index/getDnsRecords:getDnsRecords") {
          return { ...args.inputs, results: (rc.cloudflareRecords ?? []).map((r, i) => ({ id: `record-${i}`, name: inputs.name?.exact, ttl: 1, ...r })) };
        }
        return args.inputs;
      },
    },
    "matrix-kit",
    rc.stack,
    rc.preview ?? false,
  );
  pulumi.runtime.setAllConfig(config, secretKeys);
  // The mock monitor drops each registration's dependencies; read them off the request first.
  const dependencies = new Map<string, string[]>();
  const monitor = (require("@pulumi/pulumi/runtime/settings") as { getMonitor(): any }).getMonitor();
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: unknown) => {
    dependencies.set(req.getName(), (req.getDependenciesList() as string[]).map((urn) => urn.slice(urn.lastIndexOf("::") + 2)));
    return register(req, callback);
  };

  // A failed invoke or apply surfaces as an unhandled rejection, as under the real runtime
  // (whose handler fails the run): collect them and fail the run the same way.
  const onRejection = (e: unknown) => failures.push(e);
  process.on("unhandledRejection", onRejection);
  try {
    for (const key of Object.keys(require.cache)) if (key.startsWith(INFRA)) delete require.cache[key];
    // require, not import(): the ESM loader caches modules for good, and each run needs a fresh program.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const main = require(path.join(INFRA, "index.ts")) as () => Promise<Record<string, unknown>>;
    const outputs: Record<string, unknown> = {};
    // An output waiting on a failed invoke never settles: the failure ends the wait.
    const failed = new Promise<never>((_, reject) => {
      const timer = setInterval(() => failures.length > 0 && (clearInterval(timer), reject(failures[0])), 50);
      timer.unref();
    });
    failed.catch(() => {});
    // The program is an async function, as the runtime runs it: its result is the stack outputs.
    let result: Record<string, unknown>;
    try {
      result = await Promise.race([main(), failed]);
    } catch (e) {
      Object.assign(e as object, { registered: resources.map((r) => `${r.type} ${r.name}`) });
      throw e;
    }
    for (const [k, v] of Object.entries(result)) {
      outputs[k] = pulumi.Output.isInstance(v) ? await Promise.race([(v as any).promise(), failed]) : v;
    }
    // Registrations finish asynchronously; wait until none has arrived for a while.
    while (Date.now() - last < 300) await new Promise((r) => setTimeout(r, 50));
    if (failures.length > 0) {
      // What had been registered when the run failed (a test asserts it is nothing that touches a host).
      Object.assign(failures[0] as object, { registered: resources.map((r) => `${r.type} ${r.name}`) });
      throw failures[0];
    }
    return { resources, invokes, outputs };
  } finally {
    process.off("unhandledRejection", onRejection);
  }
}

/** Test secrets: clear values a test passes in place of `pulumi config set --secret`. */
export const TEST_SECRETS = {
  "matrix:secretSeed": "unit-test-seed-0123456789abcdef",
  "matrix:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nunit-test-key\n-----END OPENSSH PRIVATE KEY-----\n",
  "matrix:cloudflareApiToken": "unit-test-cloudflare-api-token-0123456789abcdef",
};

export function byType(run: ProgramRun, type: string): Recorded[] {
  return run.resources.filter((r) => r.type === type);
}

export function one(run: ProgramRun, name: string): Recorded {
  const found = run.resources.filter((r) => r.name === name);
  if (found.length !== 1) throw new Error(`expected one resource named ${name}, found ${found.length}: ${run.resources.map((r) => r.name).join(", ")}`);
  return found[0];
}

/** The resource types the program's assertions pick out. */
export const CONTAINER = "docker:index/container:Container";
export const REMOTE_CMD = "command:remote:Command";
export const LOCAL_CMD = "command:local:Command";

/** A command's stdin (the file it writes), asserted to be there. */
export function stdinOf(run: ProgramRun, name: string): string {
  const r = one(run, name);
  if (typeof r.inputs.stdin !== "string") throw new Error(`${name} has no stdin`);
  return r.inputs.stdin as string;
}
