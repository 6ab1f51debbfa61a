/**
 * MOCK-RUNTIME APPLY HARNESS, part two: `pulumi refresh` and `pulumi destroy` as the real
 * engine runs them. Neither runs the program: they take the state the last update left (a
 * file here, written by `saveState` and read back, so no object of the apply's is reused), and
 * connect with the providers' configuration stored in it. So a file the program wrote on
 * the operator's machine is not there unless the state says where its content is.
 *
 * destroy: every resource in reverse dependency order (the engine deletes a resource before
 * anything it depends on); the first failed delete stops it, leaving the rest in the state,
 * as the engine does without --continue-on-error (`continueOnError` plays that flag).
 *   - docker Container: stopped with `destroyGraceSeconds` when set, then removed by force
 *     (unset: removed at once, i.e. SIGKILL); Network removed; Volume removed unless
 *     `retainOnDelete`; RemoteImage with keepLocally: nothing;
 *   - command remote.Command / local.Command: the delete script (local ones get the
 *     create's output as PULUMI_COMMAND_STDOUT/STDERR unless addPreviousOutputInEnv is false);
 *   - cloudflare resources: nothing (recorded only; no Cloudflare API here).
 * refresh: each docker resource read back from the engine through the stored provider
 *   configuration (the command provider's read keeps its state as it is); what differs from
 *   the state is reported, one line each.
 * Remaining differences: deletes run one at a time (the engine runs independent ones in
 * parallel); refresh compares what the harness reads back from the Engine API (image,
 * memory, CPU cap and shares, restart policy, stop signal and timeout, the stored labels and environment), not
 * every attribute the provider reads.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Applied, StateEntry } from "./apply";
import { providerCpus } from "./container";
import { DockerApi } from "./docker-api";
import { commandSsh, openTunnel, runCommand, type Connection } from "./provider-io";

export function saveState(state: Map<string, StateEntry>, file: string): void {
  fs.writeFileSync(file, JSON.stringify([...state.values()], null, 1), { mode: 0o600 });
}

export function loadState(file: string): StateEntry[] {
  return JSON.parse(fs.readFileSync(file, "utf8")) as StateEntry[];
}

/** The docker provider's connection, opened from its stored configuration on first use. */
function dockerFrom(entries: StateEntry[], tmp: string) {
  let api: DockerApi | undefined;
  let close = () => {};
  return {
    async get(): Promise<DockerApi> {
      if (api) return api;
      const provider = entries.find((e) => e.type === "pulumi:providers:docker");
      if (!provider) throw new Error("harness: no docker provider in the state");
      const t = await openTunnel(provider, tmp);
      close = () => t.proc?.kill();
      return (api = new DockerApi(t.socket));
    },
    close: () => close(),
  };
}

/** Deletion order: a resource before every resource it depends on (reverse topological). */
function deletionOrder(entries: StateEntry[]): StateEntry[] {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const dependents = new Map<string, number>(entries.map((e) => [e.name, 0]));
  for (const e of entries) for (const d of e.dependencies) if (byName.has(d)) dependents.set(d, (dependents.get(d) ?? 0) + 1);
  const order: StateEntry[] = [];
  const ready = entries.filter((e) => dependents.get(e.name) === 0).reverse();
  while (ready.length > 0) {
    const e = ready.shift()!;
    order.push(e);
    for (const d of e.dependencies) {
      if (!byName.has(d)) continue;
      const left = dependents.get(d)! - 1;
      dependents.set(d, left);
      if (left === 0) ready.push(byName.get(d)!);
    }
  }
  if (order.length !== entries.length) throw new Error("harness: the state's dependencies have a cycle");
  return order;
}

export interface LifecycleOptions {
  log?: (line: string) => void;
  /** `pulumi destroy --continue-on-error`: try every delete (the e2e's clean-up net). */
  continueOnError?: boolean;
}

/**
 * `pulumi destroy` from a state file. Resolves with the errors (empty: all gone) and what
 * was deleted, in order; the state file is rewritten with what is left.
 */
export async function destroyFromState(file: string, opts: LifecycleOptions = {}): Promise<{ errors: string[]; deleted: string[] }> {
  const log = opts.log ?? (() => {});
  const entries = loadState(file);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-destroy-"));
  const docker = dockerFrom(entries, tmp);
  const errors: string[] = [];
  const deleted = new Set<string>();
  try {
    for (const e of deletionOrder(entries)) {
      try {
        await deleteOne(e, docker.get, tmp);
        deleted.add(e.name);
        log(`destroyed: ${e.name}`);
      } catch (err) {
        errors.push(`${e.name}: ${(err as Error).message}`);
        if (!opts.continueOnError) break;
      }
    }
  } finally {
    docker.close();
    fs.rmSync(tmp, { recursive: true, force: true });
    const left = entries.filter((e) => !deleted.has(e.name));
    if (left.length > 0) fs.writeFileSync(file, JSON.stringify(left, null, 1));
    else fs.rmSync(file, { force: true });
  }
  return { errors, deleted: [...deleted] };
}

export async function deleteOne(e: StateEntry, docker: () => Promise<DockerApi>, tmp: string): Promise<void> {
  const i = e.inputs;
  switch (e.type) {
    case "docker:index/container:Container": {
      const d = await docker();
      // The provider stops with destroyGraceSeconds when it is set; unset, the forced removal kills at once.
      if (i.destroyGraceSeconds !== undefined) await d.request("POST", `/containers/${encodeURIComponent(i.name)}/stop?t=${i.destroyGraceSeconds}`, undefined, [204, 304, 404]);
      await d.request("DELETE", `/containers/${encodeURIComponent(i.name)}?force=1`, undefined, [204, 404]);
      return;
    }
    case "docker:index/network:Network":
      await (await docker()).request("DELETE", `/networks/${encodeURIComponent(i.name)}`, undefined, [200, 204, 404]);
      return;
    case "docker:index/volume:Volume":
      if (!e.retainOnDelete) await (await docker()).request("DELETE", `/volumes/${encodeURIComponent(i.name)}`, undefined, [204, 404]);
      return;
    case "command:remote:Command":
      if (i.delete) runCommand("remote", ["ssh", ...commandSsh(i.connection as Connection, tmp, e.name)], i.delete, i.stdin);
      return;
    case "command:local:Command": {
      if (!i.delete) return;
      // The provider hands the create's output to the delete (addPreviousOutputInEnv defaults to true),
      // with the resource's environment and stdin, as stored in the state.
      const env: Record<string, string> = {
        ...(i.environment ?? {}),
        ...(i.addPreviousOutputInEnv === false ? {} : { PULUMI_COMMAND_STDOUT: (e.outputs?.stdout ?? "").trim(), PULUMI_COMMAND_STDERR: (e.outputs?.stderr ?? "").trim() }),
      };
      runCommand("local", i.interpreter as string[], i.delete, i.stdin, env);
      return;
    }
    default:
      // Providers, images kept locally, components and Cloudflare's recorded resources.
      return;
  }
}

/** `pulumi refresh` from a state file: one line per resource the engine finds changed or gone. */
export async function refreshFromState(file: string): Promise<string[]> {
  const entries = loadState(file);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-refresh-"));
  const docker = dockerFrom(entries, tmp);
  const changes: string[] = [];
  try {
    for (const e of entries) {
      const i = e.inputs;
      if (e.type === "docker:index/network:Network" || e.type === "docker:index/volume:Volume") {
        const kind = e.type.endsWith("Network") ? "networks" : "volumes";
        const { status } = await (await docker.get()).request("GET", `/${kind}/${encodeURIComponent(i.name)}`, undefined, [200, 404]);
        if (status === 404) changes.push(`- ${e.name}: gone`);
      } else if (e.type === "docker:index/container:Container") {
        const d = await docker.get();
        const { status, data } = await d.request<any>("GET", `/containers/${encodeURIComponent(i.name)}/json`, undefined, [200, 404]);
        if (status === 404) {
          changes.push(`- ${e.name}: gone`);
          continue;
        }
        for (const line of containerChanges(data, i)) changes.push(`~ ${e.name} ${line}`);
      }
    }
  } finally {
    docker.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return changes;
}

/**
 * What refresh finds changed in a container, against its stored inputs: the image, memory,
 * restart policy and stop settings as they are; the stored labels and environment must all be
 * there with their values (the image adds its own, which the comparison leaves alone).
 */
function containerChanges(info: any, i: Record<string, any>): string[] {
  const MB = 1024 * 1024;
  const c = info.Config;
  const h = info.HostConfig;
  const out: string[] = [];
  const same = (key: string, now: unknown, stored: unknown) => {
    if (stored !== undefined && JSON.stringify(now) !== JSON.stringify(stored)) out.push(`${key}: ${JSON.stringify(stored)} => ${JSON.stringify(now)}`);
  };
  same("image", c.Image, i.image);
  same("memory", h.Memory / MB, i.memory);
  same("memorySwap", h.MemorySwap / MB, i.memorySwap);
  if (i.cpus !== undefined) same("cpus", h.NanoCpus ? providerCpus(h.NanoCpus) : undefined, i.cpus);
  same("cpuShares", h.CpuShares, i.cpuShares);
  same("restart", h.RestartPolicy.Name, i.restart);
  same("stopSignal", c.StopSignal, i.stopSignal);
  same("stopTimeout", c.StopTimeout, i.stopTimeout);
  for (const l of (i.labels ?? []) as { label: string; value: string }[]) same(`labels.${l.label}`, c.Labels?.[l.label], l.value);
  for (const e of (i.envs ?? []) as string[]) if (!(c.Env as string[]).includes(e)) out.push(`envs: ${e.split("=")[0]} differs`);
  return out;
}

/**
 * Ends an apply: its state written out, then destroyed from that file alone (nothing of the
 * apply's own objects is used), and the apply's connection and files closed.
 */
export async function destroyApplied(applied: Applied, opts: LifecycleOptions = {}): Promise<string[]> {
  const file = path.join(applied.tmp, "state.json");
  saveState(applied.state, file);
  applied.tunnel?.kill();
  try {
    return (await destroyFromState(file, opts)).errors;
  } finally {
    fs.rmSync(applied.tmp, { recursive: true, force: true });
  }
}
