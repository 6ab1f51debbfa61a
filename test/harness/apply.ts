/**
 * MOCK-RUNTIME APPLY HARNESS: stands in for the Pulumi engine and its docker,
 * command and cloudflare provider plugins, which cannot be installed here.
 *
 * It takes the resources the real program registered under Pulumi's mock
 * runtime (test/harness/program.ts) and carries out each one's inputs, in
 * registration order, against the real machine, doing what the real providers
 * were seen to do when the program ran under the real engine (issue 7):
 *   - docker provider `ssh://user@host:port`: the system `ssh` with `-l user -p port`
 *     and ONLY the provider's sshOpts, nothing of the harness's own, so host-key
 *     checking is exactly what the kit configures; every docker resource then goes
 *     through the Docker Engine API over that ssh connection;
 *   - docker Network (with `internal`), Volume, RemoteImage (must already be on the host: there
 *     is no registry here), Container: created with NetworkMode `bridge`, then
 *     connected to each `networksAdvanced` network with its aliases; started; waited
 *     healthy when `wait` is set;
 *   - command remote.Command over ssh with the connection's own key and stdin; the
 *     host key is checked only when `connection.hostKey` is set (else any key is
 *     accepted); local.Command through its interpreter;
 *   - command local.run invokes run while the program runs (program.ts, invokes: "run");
 *   - cloudflare resources are only recorded (no Cloudflare API here): the
 *     Worker's script is handed back so a test can serve it in workerd.
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
import { goDuration } from "../../infra/render/duration";
import { DockerApi } from "./docker-api";
import type { ProgramRun, Recorded } from "./program";
import { commandSsh, openTunnel, run, waitFor, type Connection } from "./provider-io";

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

const MB = 1024 * 1024;

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration for the forms the provider accepts ("1m0s", "90s", "1h30m"), in ns. */
export function durationNs(v: string | undefined): number | undefined {
  if (!v) return undefined;
  if (!/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) throw new Error(`not a Go duration: ${v}`);
  let ns = 0;
  for (const m of v.matchAll(/([0-9.]+)(ns|us|µs|ms|s|m|h)/g)) ns += Number(m[1]) * UNIT_NS[m[2]];
  return Math.round(ns);
}

/** The provider's `labels: [{label, value}]` as the Engine API's map. */
function labelMap(labels: { label: string; value: string }[] | undefined): Record<string, string> {
  return Object.fromEntries((labels ?? []).map((l) => [l.label, l.value]));
}

function only(r: Recorded, known: string[]): void {
  const unknown = Object.keys(r.inputs).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new Error(`harness: ${r.type} ${r.name} has inputs it does not apply: ${unknown.join(", ")}`);
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
      state.cloudflare.push(r);
      log(`cloudflare (recorded, not applied): ${r.type} ${r.name}`);
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
      entry.outputs = run("ssh", [...ssh, r.inputs.create], r.inputs.stdin, `${r.name} (create)`);
      log(`ran over ssh: ${r.name}`);
      return;
    }
    case "command:local:Command": {
      only(r, ["interpreter", "create", "delete", "stdin", "triggers", "addPreviousOutputInEnv"]);
      const [cmd, ...pre] = r.inputs.interpreter as string[];
      entry.outputs = run(cmd, [...pre, r.inputs.create], r.inputs.stdin, `${r.name} (create)`);
      log(`ran locally: ${r.name}`);
      return;
    }
    default:
      if (r.type.startsWith("kit:")) return; // components hold no state of their own
      throw new Error(`harness: no way to apply ${r.type} (${r.name})`);
  }
}

/** Creates and starts the container; resolves with its state (the provider's normalised inputs). */
export async function createContainer(r: Recorded, state: Applied, log: (l: string) => void): Promise<Record<string, any>> {
  only(r, [
    "name", "image", "entrypoints", "command", "user", "restart", "memory", "memorySwap", "cpus", "cpuShares", "envs", "networksAdvanced", "ports", "volumes",
    "healthcheck", "logDriver", "logOpts", "labels", "wait", "waitTimeout", "mustRun", "stopSignal", "stopTimeout", "destroyGraceSeconds",
  ]);
  const i = r.inputs;
  const docker = state.docker;
  const ports = (i.ports ?? []) as { internal: number; external: number; ip: string; protocol: string }[];
  const nets = (i.networksAdvanced ?? []) as { name: string; aliases?: string[] }[];
  const hc = i.healthcheck as { tests: string[]; interval?: string; timeout?: string; retries?: number; startPeriod?: string } | undefined;
  const body = {
    Image: i.image,
    ...(i.entrypoints ? { Entrypoint: i.entrypoints } : {}),
    ...(i.command ? { Cmd: i.command } : {}),
    ...(i.user ? { User: i.user } : {}),
    Env: i.envs ?? [],
    Labels: labelMap(i.labels),
    ExposedPorts: Object.fromEntries(ports.map((p) => [`${p.internal}/${p.protocol}`, {}])),
    ...(i.stopSignal ? { StopSignal: i.stopSignal } : {}),
    ...(i.stopTimeout !== undefined ? { StopTimeout: i.stopTimeout } : {}),
    ...(hc
      ? { Healthcheck: { Test: hc.tests, Interval: durationNs(hc.interval), Timeout: durationNs(hc.timeout), Retries: hc.retries, StartPeriod: durationNs(hc.startPeriod) } }
      : {}),
    HostConfig: {
      Binds: (i.volumes ?? []).map((v: { volumeName?: string; hostPath?: string; containerPath: string; readOnly?: boolean }) =>
        `${v.volumeName ?? v.hostPath}:${v.containerPath}${v.readOnly ? ":ro" : ""}`),
      PortBindings: Object.fromEntries(
        ports.map((p) => [`${p.internal}/${p.protocol}`, [{ HostIp: p.ip, HostPort: String(p.external) }]]),
      ),
      RestartPolicy: { Name: i.restart },
      Memory: i.memory * MB,
      MemorySwap: i.memorySwap * MB,
      // The provider parses `cpus` as a decimal into NanoCPUs (Docker's --cpus).
      ...(i.cpus !== undefined ? { NanoCpus: nanoCpus(i.cpus) } : {}),
      ...(i.cpuShares !== undefined ? { CpuShares: i.cpuShares } : {}),
      LogConfig: { Type: i.logDriver, Config: i.logOpts ?? {} },
      // As the provider does: the default bridge, then each networksAdvanced network connected.
      NetworkMode: "bridge",
    },
  };
  const { data } = await docker.request<{ Id: string }>("POST", `/containers/create?name=${encodeURIComponent(i.name)}`, body);
  const id = data.Id;
  for (const n of nets) {
    await docker.request("POST", `/networks/${encodeURIComponent(n.name)}/connect`, { Container: id, EndpointConfig: { Aliases: n.aliases ?? [] } });
  }
  await docker.request("POST", `/containers/${id}/start`);
  const stored = await containerState(docker, id, i);
  const started = Date.now();
  if (i.wait) {
    // The provider's `wait`: block until the health check says healthy.
    await waitFor(`${i.name} to become healthy`, (i.waitTimeout ?? 60) * 1000, async () => {
      const { data: info } = await docker.request<{ State: { Running: boolean; Health?: { Status: string } } }>("GET", `/containers/${id}/json`);
      if (!info.State.Running || info.State.Health?.Status === "unhealthy") {
        throw new Error(`${i.name} is ${info.State.Running ? "unhealthy" : "not running"}:\n${await docker.logs(id)}`);
      }
      return info.State.Health?.Status === "healthy";
    }).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n--- ${i.name} logs ---\n${await docker.logs(id)}`);
    });
  }
  log(`container ${i.name} started${i.wait ? ` and healthy after ${((Date.now() - started) / 1000).toFixed(1)} s` : ""}`);
  return stored;
}

/**
 * A container's inputs as the provider keeps them in its state: what it reads back
 * from the engine. The health check's durations come back in ns and are stored in
 * Go's canonical spelling, so "60s" in a program is "1m0s" in the state; the CPU cap
 * comes back as NanoCPUs and is stored as the provider spells it ("1.0", "0.75").
 */
export async function containerState(docker: DockerApi, id: string, inputs: Record<string, any>): Promise<Record<string, any>> {
  const { data } = await docker.request<{ Config: { Healthcheck?: Record<string, number> }; HostConfig: { NanoCpus?: number; CpuShares?: number } }>(
    "GET",
    `/containers/${id}/json`,
  );
  const cpu = {
    ...(data.HostConfig.NanoCpus ? { cpus: providerCpus(data.HostConfig.NanoCpus) } : {}),
    ...(inputs.cpuShares !== undefined ? { cpuShares: data.HostConfig.CpuShares } : {}),
  };
  if (!inputs.healthcheck) return { ...inputs, ...cpu };
  const back = data.Config.Healthcheck ?? {};
  const canonical = (ns: number | undefined) => (ns === undefined || ns === 0 ? undefined : goDuration(ns / 1e9));
  const healthcheck = { ...inputs.healthcheck };
  for (const [key, engineKey] of [["interval", "Interval"], ["timeout", "Timeout"], ["startPeriod", "StartPeriod"]] as const) {
    if (healthcheck[key] !== undefined) healthcheck[key] = canonical(back[engineKey]);
  }
  return { ...inputs, ...cpu, healthcheck };
}

/** `cpus` as the provider parses it (a decimal of CPUs, to whole nanoCPUs); refused like the provider when not whole. */
export function nanoCpus(cpus: string): number {
  const m = /^([0-9]+)(?:\.([0-9]{0,9}))?$/.exec(cpus);
  if (!m) throw new Error(`harness: cpus ${JSON.stringify(cpus)} is not a decimal number of CPUs`);
  return Number(m[1]) * 1e9 + Number((m[2] ?? "").padEnd(9, "0"));
}

/**
 * NanoCPUs as the docker provider writes them into its state on read (kreuzwerker
 * terraform-provider-docker, its decimal-string helper): the value with nine decimals; when
 * that text holds exactly nine "0" characters it is rounded to one decimal ("1.0", "0.1",
 * but 0.05 reads back as "0.1"), otherwise its trailing zeros go ("0.75", "10.").
 */
export function providerCpus(nano: number): string {
  const text = `${Math.floor(nano / 1e9)}.${String(nano % 1e9).padStart(9, "0")}`;
  if ((text.match(/0/g) ?? []).length === 9) {
    const tenths = Math.round(nano / 1e8);
    return `${Math.floor(tenths / 10)}.${tenths % 10}`;
  }
  return text.replace(/0+$/, "");
}

export function changes(before: unknown, after: unknown, at: string, out: string[]): void {
  if (JSON.stringify(before) === JSON.stringify(after)) return;
  const isObj = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const b = before as Record<string, unknown>;
    const a = after as Record<string, unknown>;
    for (const k of new Set([...Object.keys(b), ...Object.keys(a)])) changes(b[k], a[k], at ? `${at}.${k}` : k, out);
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
    changes(before.inputs, r.inputs, "", lines);
    out.push(...lines.map((l) => `~ ${r.name} ${l}`));
  }
  for (const [name, st] of applied.state) if (!seen.has(name) && !st.type.startsWith("kit:")) out.push(`- ${st.type} ${name}`);
  return out;
}

