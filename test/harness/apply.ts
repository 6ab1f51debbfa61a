/**
 * MOCK-RUNTIME APPLY HARNESS: stands in for the Pulumi engine and its docker,
 * command and cloudflare provider plugins, which cannot be installed here.
 *
 * It takes the resources the real program registered under Pulumi's mock
 * runtime (test/harness/program.ts) and carries out each one's inputs, in
 * registration order, against the real machine:
 *   - docker provider `ssh://user@host:port`: an ssh tunnel (with the provider's
 *     sshOpts) to the remote engine's socket; every docker resource goes
 *     through the Docker Engine API on it, as the provider does;
 *   - docker Network, Volume, RemoteImage (must already be on the host: there
 *     is no registry here), Container (created, started, waited healthy);
 *   - command remote.Command over ssh with the connection's own key and stdin;
 *     local.Command through its interpreter;
 *   - cloudflare resources are only recorded (no Cloudflare API here): the
 *     Worker's script is handed back so a test can serve it in workerd.
 * `destroy()` undoes it in reverse order as `pulumi destroy` would: commands'
 * delete scripts, containers, the network; volumes unless retained.
 * An input the harness does not know fails the apply: nothing is ignored.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DockerApi } from "./docker-api";
import type { ProgramRun, Recorded } from "./program";

export interface ApplyOptions {
  /** ssh known_hosts file that pins the test host's key. */
  knownHosts: string;
  /** Keep volumes on destroy (the stack's matrix:volumes.retainOnDestroy; not visible to mocks). */
  retainVolumes: boolean;
  log?: (line: string) => void;
}

interface Undo {
  name: string;
  run: () => Promise<void>;
}

export interface Applied {
  docker: DockerApi;
  containers: Map<string, string>;
  cloudflare: Recorded[];
  workerScript?: string;
  undo: Undo[];
  tunnel?: ChildProcess;
  tmp: string;
}

const MB = 1024 * 1024;

function durationNs(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^(\d+)(ms|s|m|h)$/.exec(v);
  if (!m) throw new Error(`unknown duration ${v}`);
  const unit = { ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[m[2] as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}

/** The provider's `labels: [{label, value}]` as the Engine API's map. */
function labelMap(labels: { label: string; value: string }[] | undefined): Record<string, string> {
  return Object.fromEntries((labels ?? []).map((l) => [l.label, l.value]));
}

function only(r: Recorded, known: string[]): void {
  const unknown = Object.keys(r.inputs).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new Error(`harness: ${r.type} ${r.name} has inputs it does not apply: ${unknown.join(", ")}`);
}

function sshArgs(conn: { host: string; port?: number; user?: string }, keyFile: string, knownHosts: string): string[] {
  return [
    "-i", keyFile, "-p", String(conn.port ?? 22),
    "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
    "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "StrictHostKeyChecking=yes",
    `${conn.user ?? "root"}@${conn.host}`,
  ];
}

function run(cmd: string, args: string[], stdin: string | undefined, what: string): void {
  const r = spawnSync(cmd, args, { input: stdin ?? "", encoding: "utf8", timeout: 600_000 });
  if (r.status !== 0) {
    throw new Error(`${what} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ""}):\n${r.stdout}${r.stderr}`);
  }
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

async function openTunnel(r: Recorded, opts: ApplyOptions, tmp: string): Promise<{ socket: string; proc?: ChildProcess }> {
  const host = String(r.inputs.host);
  if (host.startsWith("unix://")) return { socket: host.slice("unix://".length) };
  const m = /^ssh:\/\/([^@]+)@([^:]+):(\d+)$/.exec(host);
  if (!m) throw new Error(`harness: unsupported docker host ${host}`);
  const sshOpts: string[] = r.inputs.sshOpts ? JSON.parse(r.inputs.sshOpts) : [];
  const socket = path.join(tmp, "docker.sock");
  // The provider runs `ssh <sshOpts> user@host docker system dial-stdio`; forwarding the
  // engine's socket over the same ssh connection settings is the same transport.
  const proc = spawn(
    "ssh",
    [...sshOpts, "-p", m[3], "-o", `UserKnownHostsFile=${opts.knownHosts}`, "-o", "StrictHostKeyChecking=yes",
      "-o", "ExitOnForwardFailure=yes", "-N", "-L", `${socket}:/var/run/docker.sock`, `${m[1]}@${m[2]}`],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  proc.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  await waitFor(`the ssh tunnel to ${host} (${err.trim()})`, 20_000, async () => fs.existsSync(socket));
  return { socket, proc };
}

export async function apply(program: ProgramRun, opts: ApplyOptions): Promise<Applied> {
  const log = opts.log ?? (() => {});
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-apply-"));
  const state: Applied = { docker: new DockerApi("/var/run/docker.sock"), containers: new Map(), cloudflare: [], undo: [], tmp };
  try {
    for (const r of program.resources) {
      await applyOne(r, state, opts, log);
    }
  } catch (e) {
    (e as Error).message = `apply stopped: ${(e as Error).message}`;
    (e as { applied?: Applied }).applied = state;
    throw e;
  }
  return state;
}

async function applyOne(r: Recorded, state: Applied, opts: ApplyOptions, log: (l: string) => void): Promise<void> {
  const d = () => state.docker;
  switch (r.type) {
    case "pulumi:providers:docker": {
      only(r, ["host", "sshOpts", "version"]);
      const t = await openTunnel(r, opts, state.tmp);
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
      only(r, ["name", "driver", "labels"]);
      await d().request("POST", "/networks/create", {
        Name: r.inputs.name,
        Driver: r.inputs.driver,
        CheckDuplicate: true,
        Labels: labelMap(r.inputs.labels),
      });
      state.undo.push({ name: r.name, run: async () => void (await d().request("DELETE", `/networks/${r.inputs.name}`, undefined, [200, 204, 404])) });
      log(`network created: ${r.inputs.name}`);
      return;
    }
    case "docker:index/volume:Volume": {
      only(r, ["name", "labels"]);
      await d().request("POST", "/volumes/create", {
        Name: r.inputs.name,
        Labels: labelMap(r.inputs.labels),
      });
      if (!opts.retainVolumes) {
        state.undo.push({ name: r.name, run: async () => void (await d().request("DELETE", `/volumes/${r.inputs.name}`, undefined, [204, 404])) });
      }
      log(`volume created: ${r.inputs.name}${opts.retainVolumes ? " (retained on destroy)" : ""}`);
      return;
    }
    case "docker:index/container:Container":
      await createContainer(r, state, log);
      return;
    case "command:remote:Command": {
      only(r, ["connection", "create", "delete", "stdin", "triggers", "addPreviousOutputInEnv"]);
      const conn = r.inputs.connection as { host: string; port?: number; user?: string; privateKey: string };
      const keyFile = path.join(state.tmp, "command-key");
      fs.writeFileSync(keyFile, conn.privateKey.endsWith("\n") ? conn.privateKey : `${conn.privateKey}\n`, { mode: 0o600 });
      const ssh = sshArgs(conn, keyFile, opts.knownHosts);
      run("ssh", [...ssh, r.inputs.create], r.inputs.stdin, `${r.name} (create)`);
      if (r.inputs.delete) state.undo.push({ name: r.name, run: async () => run("ssh", [...ssh, r.inputs.delete], undefined, `${r.name} (delete)`) });
      log(`ran over ssh: ${r.name}`);
      return;
    }
    case "command:local:Command": {
      only(r, ["interpreter", "create", "delete", "stdin", "triggers", "addPreviousOutputInEnv"]);
      const [cmd, ...pre] = r.inputs.interpreter as string[];
      run(cmd, [...pre, r.inputs.create], r.inputs.stdin, `${r.name} (create)`);
      if (r.inputs.delete) state.undo.push({ name: r.name, run: async () => run(cmd, [...pre, r.inputs.delete], undefined, `${r.name} (delete)`) });
      log(`ran locally: ${r.name}`);
      return;
    }
    default:
      if (r.type.startsWith("kit:")) return; // components hold no state of their own
      throw new Error(`harness: no way to apply ${r.type} (${r.name})`);
  }
}

async function createContainer(r: Recorded, state: Applied, log: (l: string) => void): Promise<void> {
  only(r, [
    "name", "image", "command", "restart", "memory", "memorySwap", "envs", "networksAdvanced", "ports", "volumes",
    "healthcheck", "logDriver", "logOpts", "labels", "wait", "waitTimeout", "mustRun",
  ]);
  const i = r.inputs;
  const docker = state.docker;
  const ports = (i.ports ?? []) as { internal: number; external: number; ip: string; protocol: string }[];
  const nets = (i.networksAdvanced ?? []) as { name: string; aliases?: string[] }[];
  const hc = i.healthcheck as { tests: string[]; interval?: string; timeout?: string; retries?: number; startPeriod?: string } | undefined;
  const body = {
    Image: i.image,
    ...(i.command ? { Cmd: i.command } : {}),
    Env: i.envs ?? [],
    Labels: labelMap(i.labels),
    ExposedPorts: Object.fromEntries(ports.map((p) => [`${p.internal}/${p.protocol}`, {}])),
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
      LogConfig: { Type: i.logDriver, Config: i.logOpts ?? {} },
      NetworkMode: nets[0]?.name,
    },
    NetworkingConfig: { EndpointsConfig: Object.fromEntries(nets.map((n) => [n.name, { Aliases: n.aliases ?? [] }])) },
  };
  const { data } = await docker.request<{ Id: string }>("POST", `/containers/create?name=${encodeURIComponent(i.name)}`, body);
  const id = data.Id;
  state.containers.set(i.name, id);
  state.undo.push({
    name: r.name,
    run: async () => {
      await docker.request("POST", `/containers/${id}/stop?t=10`, undefined, [204, 304, 404]);
      await docker.request("DELETE", `/containers/${id}?force=1`, undefined, [204, 404]);
    },
  });
  await docker.request("POST", `/containers/${id}/start`);
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
}

/** Undo everything applied, newest first, as `pulumi destroy` would; every step is tried. */
export async function destroy(state: Applied, log: (l: string) => void = () => {}): Promise<string[]> {
  const errors: string[] = [];
  for (const u of [...state.undo].reverse()) {
    try {
      await u.run();
      log(`destroyed: ${u.name}`);
    } catch (e) {
      errors.push(`${u.name}: ${(e as Error).message}`);
    }
  }
  state.undo = [];
  state.tunnel?.kill();
  fs.rmSync(state.tmp, { recursive: true, force: true });
  return errors;
}
