/**
 * MOCK-RUNTIME APPLY HARNESS: stands in for the Pulumi engine and its docker,
 * command and cloudflare provider plugins, which cannot be installed here.
 *
 * It takes the resources the real program registered under Pulumi's mock
 * runtime (test/harness/program.ts) and carries out each one's inputs, in
 * registration order, against the real machine, doing what the real providers
 * were seen to do when the program ran under the real engine:
 *   - docker provider `ssh://user@host:port`: the system `ssh` with `-l user -p port`
 *     and ONLY the provider's sshOpts, nothing of the harness's own, so host-key
 *     checking is exactly what the kit configures; every docker resource then goes
 *     through the Docker Engine API over that ssh connection;
 *   - docker Network (with `internal`), Volume, RemoteImage (must already be on the host: there
 *     is no registry here), Container (container.ts): created with NetworkMode `bridge`, then
 *     connected to each `networksAdvanced` network with its aliases; started; waited
 *     healthy when `wait` is set;
 *   - command remote.Command over ssh with the connection's own key and stdin; the
 *     host key is checked only when `connection.hostKey` is set (else any key is
 *     accepted); local.Command through its interpreter;
 *   - command local.run invokes run while the program runs (program.ts, invokes: "run");
 *   - cloudflare resources are only recorded (no Cloudflare API here): the
 *     Worker's script is handed back so a test can serve it in workerd; an origin
 *     certificate is a stand-in Origin CA's, signed when the program registered it
 *     (computed.ts), as are the tls provider's key and request;
 * After an apply, each resource's state is kept as the engine keeps it: inputs in the
 * provider's normalised form (container durations read back from the engine in Go's
 * canonical spelling), dependencies, a command's output. `diff()` compares a new run of
 * the program with it, as a second `pulumi up` would. Refresh and destroy work from that
 * state alone, written to a file and read back, never from the program (lifecycle.ts).
 * An input the harness does not know fails the apply: nothing is ignored.
 *
 * Remaining differences from the real engine and providers:
 *   - the docker connection is an ssh socket forward (`-N -L`) instead of the provider's
 *     `ssh ... docker system dial-stdio`: same ssh options, authentication and host-key
 *     check, another way to carry the API;
 *   - resources are applied one at a time in registration order, not in parallel along
 *     the dependency graph; an apply that fails stops at once (the engine lets
 *     independent branches finish);
 *   - updates and replacements only as update.ts does them (the changes the e2e makes);
 *     `diff()` reports what a second run would change, a test asserts on it;
 *   - remote delete scripts get no PULUMI_COMMAND_STDOUT/STDERR: the provider sends them
 *     as ssh environment requests, which a default sshd (the e2e one too) refuses (the kit
 *     turns them off: addPreviousOutputInEnv false);
 *   - error messages are the harness's own words around the real tools' output
 *     (ssh's, the Engine API's, the scripts').
 */
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createContainer, labelMap, only } from "./container";
import { DockerApi } from "./docker-api";
import type { ProgramRun, Recorded } from "./program";
import { commandSsh, openTunnel, runCommand, type Connection } from "./provider-io";

export interface ApplyOptions {
  /** Keep volumes on destroy (the stack's matrix:volumes.retainOnDestroy; not visible to mocks). */
  retainVolumes: boolean;
  log?: (line: string) => void;
}

/** One resource as the engine keeps it after an update: all that refresh and destroy get. */
export interface StateEntry {
  type: string;
  name: string;
  /** As the provider stores them (see `diff`). */
  inputs: Record<string, any>;
  dependencies: string[];
  /** A command's output: the provider hands it to the delete script (addPreviousOutputInEnv). */
  outputs?: { stdout: string; stderr: string };
  /** The `retainOnDelete` resource option. */
  retainOnDelete?: boolean;
}

export interface Applied {
  docker: DockerApi;
  cloudflare: Recorded[];
  workerScript?: string;
  tunnel?: ChildProcess;
  tmp: string;
  /** Each applied resource's state, in the order they were applied. */
  state: Map<string, StateEntry>;
}

export async function apply(program: ProgramRun, opts: ApplyOptions): Promise<Applied> {
  const log = opts.log ?? (() => {});
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-apply-"));
  const state: Applied = { docker: new DockerApi("/var/run/docker.sock"), cloudflare: [], tmp, state: new Map() };
  try {
    for (const r of program.resources) {
      const entry: StateEntry = { type: r.type, name: r.name, inputs: r.inputs, dependencies: r.dependencies };
      await applyOne(r, entry, state, opts, log);
      state.state.set(r.name, entry);
    }
  } catch (e) {
    (e as Error).message = `apply stopped: ${(e as Error).message}`;
    (e as { applied?: Applied }).applied = state;
    throw e;
  }
  return state;
}

export async function applyOne(r: Recorded, entry: StateEntry, state: Applied, opts: ApplyOptions, log: (l: string) => void): Promise<void> {
  const d = () => state.docker;
  switch (r.type) {
    case "pulumi:providers:docker": {
      only(r, ["host", "sshOpts", "version"]);
      const t = await openTunnel(r, state.tmp);
      state.docker = new DockerApi(t.socket);
      state.tunnel = t.proc;
      log(`docker provider: ${r.inputs.host}`);
      return;
    }
    case "pulumi:providers:cloudflare":
    case "cloudflare:index/dnsRecord:DnsRecord":
    case "cloudflare:index/workersRoute:WorkersRoute":
    case "cloudflare:index/zoneSetting:ZoneSetting":
    case "cloudflare:index/originCaCertificate:OriginCaCertificate":
      state.cloudflare.push(r);
      log(`cloudflare (recorded, not applied; an origin certificate signed by the stand-in Origin CA): ${r.type} ${r.name}`);
      return;
    // Made when the program registered them (computed.ts): nothing to do on the host.
    case "tls:index/privateKey:PrivateKey":
    case "tls:index/certRequest:CertRequest":
      log(`tls (made under the mock runtime): ${r.name}`);
      return;
    case "cloudflare:index/workersScript:WorkersScript":
      state.cloudflare.push(r);
      state.workerScript = r.inputs.content;
      log(`cloudflare (recorded; served by workerd in the checks): ${r.name}`);
      return;
    case "docker:index/remoteImage:RemoteImage": {
      only(r, ["name", "keepLocally"]);
      // No registry here: the image must have been built on the host (test/e2e/images).
      await d().request("GET", `/images/${encodeURIComponent(r.inputs.name)}/json`).catch(() => {
        throw new Error(`image ${r.inputs.name} is not on the host: build it with test/e2e/images/build.sh`);
      });
      log(`image present: ${r.inputs.name}`);
      return;
    }
    case "docker:index/network:Network": {
      only(r, ["name", "driver", "labels", "internal"]);
      await d().request("POST", "/networks/create", {
        Name: r.inputs.name,
        Driver: r.inputs.driver,
        // No route out of the network (and none in from the host's ports).
        Internal: r.inputs.internal ?? false,
        CheckDuplicate: true,
        Labels: labelMap(r.inputs.labels),
      });
      log(`network created: ${r.inputs.name}`);
      return;
    }
    case "docker:index/volume:Volume": {
      only(r, ["name", "labels"]);
      await d().request("POST", "/volumes/create", {
        Name: r.inputs.name,
        Labels: labelMap(r.inputs.labels),
      });
      entry.retainOnDelete = opts.retainVolumes;
      log(`volume created: ${r.inputs.name}${opts.retainVolumes ? " (retained on destroy)" : ""}`);
      return;
    }
    case "docker:index/container:Container":
      entry.inputs = await createContainer(r, state, log);
      return;
    case "command:remote:Command": {
      only(r, ["connection", "create", "delete", "stdin", "triggers", "addPreviousOutputInEnv"]);
      const ssh = commandSsh(r.inputs.connection as Connection, state.tmp, r.name);
      entry.outputs = runCommand("remote", ["ssh", ...ssh], r.inputs.create, r.inputs.stdin);
      log(`ran over ssh: ${r.name}`);
      return;
    }
    case "command:local:Command": {
      only(r, ["interpreter", "create", "delete", "stdin", "environment", "triggers", "addPreviousOutputInEnv"]);
      entry.outputs = runCommand("local", r.inputs.interpreter as string[], r.inputs.create, r.inputs.stdin, r.inputs.environment);
      log(`ran locally: ${r.name}`);
      return;
    }
    default:
      if (r.type.startsWith("kit:")) return; // components hold no state of their own
      throw new Error(`harness: no way to apply ${r.type} (${r.name})`);
  }
}

/**
 * Each input that differs, with its values; an input marked secret (or inside one) shows as
 * "[secret]", as the engine shows it.
 */
export function changes(before: unknown, after: unknown, at: string, out: string[], secretPaths: string[] = []): void {
  if (JSON.stringify(before) === JSON.stringify(after)) return;
  if (secretPaths.some((p) => at === p || at.startsWith(`${p}.`) || at.startsWith(`${p}[`))) {
    out.push(`${at}: [secret] => [secret]`);
    return;
  }
  const isObj = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const b = before as Record<string, unknown>;
    const a = after as Record<string, unknown>;
    for (const k of new Set([...Object.keys(b), ...Object.keys(a)])) changes(b[k], a[k], at ? `${at}.${k}` : k, out, secretPaths);
    return;
  }
  out.push(`${at}: ${JSON.stringify(before)} => ${JSON.stringify(after)}`);
}

/**
 * What a second `pulumi up` of `program` would change, compared with the state the
 * apply left (the provider's normalised form): one line per created, deleted or
 * updated resource and input. Empty: nothing to do.
 */
export function diff(applied: Applied, program: ProgramRun): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const r of program.resources) {
    if (r.type.startsWith("kit:")) continue;
    seen.add(r.name);
    const before = applied.state.get(r.name);
    if (!before) {
      out.push(`+ ${r.type} ${r.name}`);
      continue;
    }
    const lines: string[] = [];
    changes(before.inputs, r.inputs, "", lines, r.secretPaths);
    out.push(...lines.map((l) => `~ ${r.name} ${l}`));
  }
  for (const [name, st] of applied.state) if (!seen.has(name) && !st.type.startsWith("kit:")) out.push(`- ${st.type} ${name}`);
  return out;
}

