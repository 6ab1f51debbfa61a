/**
 * MOCK-RUNTIME APPLY HARNESS, the docker Container resource (see apply.ts's header for what the
 * harness is and its remaining differences): a Container's inputs carried out through the Engine
 * API as the docker provider does, and its state read back in the provider's normalised form
 * (durations in Go's spelling, `cpus` as the provider writes NanoCPUs).
 *
 * The health check as the provider builds it (kreuzwerker terraform-provider-docker,
 * resource_docker_container_funcs.go): each duration parsed into ns, `start_interval` as
 * StartInterval (0 when unset, its schema default "0s"). Its Docker client (moby 25+, with API
 * version negotiation) refuses a non-zero StartInterval before sending anything when the
 * engine's API is older than 1.44 (Docker 20.10 speaks 1.41): the harness refuses the same way,
 * with the client's words, and otherwise creates that container at the engine's own API version
 * (a 1.41 request would have the engine drop the field).
 * Remaining differences: the provider also sends the other durations and retries as 0 when unset
 * (the harness leaves them out: the engine reads both as "inherit"); every other request goes at
 * API 1.41 where the provider's goes at the negotiated version (the same on Docker 20.10).
 */
import { goDuration } from "../../infra/render/duration";
import type { Applied } from "./apply";
import type { DockerApi } from "./docker-api";
import type { Recorded } from "./program";
import { waitFor } from "./provider-io";

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
export function labelMap(labels: { label: string; value: string }[] | undefined): Record<string, string> {
  return Object.fromEntries((labels ?? []).map((l) => [l.label, l.value]));
}

export function only(r: Recorded, known: string[]): void {
  const unknown = Object.keys(r.inputs).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new Error(`harness: ${r.type} ${r.name} has inputs it does not apply: ${unknown.join(", ")}`);
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
  const hc = i.healthcheck as { tests: string[]; interval?: string; timeout?: string; retries?: number; startPeriod?: string; startInterval?: string } | undefined;
  const startInterval = durationNs(hc?.startInterval) ?? 0;
  const create = startInterval === 0 ? docker : await dockerForStartInterval(docker);
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
      ? {
          Healthcheck: {
            Test: hc.tests,
            Interval: durationNs(hc.interval),
            Timeout: durationNs(hc.timeout),
            Retries: hc.retries,
            StartPeriod: durationNs(hc.startPeriod),
            StartInterval: startInterval,
          },
        }
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
  const { data } = await create.request<{ Id: string }>("POST", `/containers/create?name=${encodeURIComponent(i.name)}`, body);
  const id = data.Id;
  for (const n of nets) {
    await docker.request("POST", `/networks/${encodeURIComponent(n.name)}/connect`, { Container: id, EndpointConfig: { Aliases: n.aliases ?? [] } });
  }
  await docker.request("POST", `/containers/${id}/start`);
  const stored = await containerState(create, id, i);
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

/** The highest API version of the provider's Docker client (moby v28.5's DefaultVersion). */
const PROVIDER_CLIENT_API = "1.51";

/** What the provider's client does with a start interval: refuse it below API 1.44, else talk at the negotiated version. */
async function dockerForStartInterval(docker: DockerApi): Promise<DockerApi> {
  const engine = await docker.engineApiVersion();
  const negotiated = apiLess(engine, PROVIDER_CLIENT_API) ? engine : PROVIDER_CLIENT_API;
  if (apiLess(negotiated, "1.44")) {
    throw new Error(`"specify health-check start interval" requires API version 1.44, but the Docker daemon API version is ${negotiated}`);
  }
  return docker.at(negotiated);
}

/** "1.41" < "1.44" as API versions (numerically by part, as moby's versions.LessThan). */
export function apiLess(a: string, b: string): boolean {
  const [x, y] = [a, b].map((v) => v.split(".").map(Number));
  for (let k = 0; k < Math.max(x.length, y.length); k++) if ((x[k] ?? 0) !== (y[k] ?? 0)) return (x[k] ?? 0) < (y[k] ?? 0);
  return false;
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
  for (const [key, engineKey] of [["interval", "Interval"], ["timeout", "Timeout"], ["startPeriod", "StartPeriod"], ["startInterval", "StartInterval"]] as const) {
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
