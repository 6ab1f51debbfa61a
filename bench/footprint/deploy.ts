/**
 * The deployments the benchmarks compare, on this machine as the VPS (test/e2e/vps.sh), on the
 * same images and the same host port: the kit here (the e2e stack with the kit's defaults for a
 * 1 GB VPS, run by the real program under Pulumi's MOCK runtime and applied by the e2e apply
 * harness), the hand-made setups (the baseline, and the peer with MDAD's defaults) in hand-made.ts,
 * and what they share: the Deployment they each return, and the clean-up of a run that stopped.
 * The bridges are the e2e stand-ins in all, with the same rendered configs.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { readStackFile, stackFilePath, validate } from "../../infra/config";
import { backupPaths } from "../../infra/render/backup";
import { bridgesHomeserverAddress } from "../../infra/render/addresses";
import { nginxSitePath } from "../../infra/render/nginx";
import { upkeepCronPath } from "../../infra/render/upkeep";
import { deepMerge } from "../../infra/render/yaml";
import { deriveSecrets, type Secrets } from "../../infra/secrets";
import { containerName, hostPath, type Settings } from "../../infra/settings";
import { type StatusSubject, subjectFromSettings } from "../../infra/ops/status";
import { apply, type Applied } from "../../test/harness/apply";
import { destroyApplied } from "../../test/harness/lifecycle";
import { request } from "../../test/harness/http";
import { runProgram } from "../../test/harness/program";
import { containerLog, docker, poll } from "../../test/harness/wait";


export interface Deployment {
  /** "baseline", "kit", or "kit+<variant>" for the kit with stack settings changed. */
  label: string;
  /** Every container's name starts with it and a dash. */
  namePrefix: string;
  /** The Matrix site on the host's nginx: its port and server name (the owner's way in). */
  front: { port: number; host: string };
  /** Synapse on its loopback port (the owner's logins and the bench's own calls). */
  synapseUrl: string;
  /**
   * Where the bridges' requests go, by its address on the private network as the bridges reach it
   * (not through the published port's docker-proxy): the kit's queue when it runs
   * (render/bridge-queue.ts), otherwise Synapse itself.
   */
  bridgesUrl: string;
  domain: string;
  asTokens: { qq: string; wechat: string };
  subject: StatusSubject;
  /** The owner, an admin: the account the kit made (`pulumi up` does), or one registered now with the shared secret. */
  owner(): { localpart: string; password: string };
  /** Synapse's log so far, where its access log lines are ("Processed request: ..."); "" when it logs none. */
  synapseLog(): string;
  /** The kit's upkeep job on the host (run.sh), run by hand after the workload; none for the baseline. */
  upkeepRun?: string;
  /** The kit's backup and restore scripts and its repository (a folder of the deployment's own); none for the baseline. */
  backup?: { script: string; restore: string; statusFile: string; repository: string };
  teardown(): Promise<void>;
}

export const STACK = "e2e";
export const E2E_DIR = process.env.E2E_DIR ?? "/tmp/matrix-kit-e2e";

/** `ok` returns true once the thing is up (the shared poll wants a value). */
export const waitFor = (what: string, timeoutMs: number, ok: () => Promise<boolean> | boolean) => poll(what, timeoutMs, async () => ((await ok()) ? true : undefined));

/**
 * An address the kit's containers use on the private network (`http://<container>:<port>`), with
 * the container's name replaced by its IP: this machine is the VPS, so the network is reachable
 * from here, but Docker's DNS names are not.
 */
function onPrivateNetwork(url: string): string {
  const u = new URL(url);
  const ip = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", u.hostname).trim().split(/\s+/)[0];
  if (!ip) throw new Error(`${u.hostname} has no address on a network`);
  return `http://${ip}:${u.port}`;
}

export function removeByPrefix(prefix: string): void {
  const ids = (kind: string[]) => docker(...kind, "-q", "--filter", `name=^${prefix}`).split(/\s+/).filter(Boolean);
  for (const id of ids(["ps", "-a"])) docker("rm", "-f", id);
  for (const id of ids(["network", "ls"])) docker("network", "rm", id);
  for (const id of ids(["volume", "ls"])) docker("volume", "rm", id);
}

/** The stack file's settings with `extra` merged in, as deployKit merges a variant's into the program's. */
export function settingsFor(namePrefix: string, extra: Record<string, unknown> = {}): Settings {
  const file = readStackFile(stackFilePath(STACK));
  const v = validate(STACK, { ...file, values: deepMerge({ ...file.values, "matrix:namePrefix": namePrefix }, extra) }, { requireSecrets: false });
  if (!v.ok) throw new Error(v.errors.join("\n"));
  return v.settings;
}

const KIT_PREFIX = `mx-${STACK}`;
/** The hand-made setups' prefixes (hand-made.ts): the baseline's, and the peer's (MDAD's defaults). */
export const HAND_MADE_PREFIXES = { baseline: "mx-base", mdad: "mx-mdad" } as const;
export const HAND_MADE_FRONT = "/etc/nginx/conf.d/zz-matrix-kit-bench-baseline.conf";

/**
 * What a run that stopped part-way left (a deploy that failed half done, a benchmark killed):
 * either side's containers, networks and volumes, the kit's nginx site and cron entry, the
 * baseline's front. Both sides publish the same host ports, so every deployment starts by
 * removing all of it, not only its own side's.
 */
export function removeLeftovers(): void {
  const kit = settingsFor(KIT_PREFIX);
  for (const prefix of [KIT_PREFIX, ...Object.values(HAND_MADE_PREFIXES)]) removeByPrefix(prefix);
  for (const f of [nginxSitePath(kit), upkeepCronPath(kit), HAND_MADE_FRONT]) fs.rmSync(f, { force: true });
  execFileSync("nginx", ["-s", "reload"]);
}


// node:http with a socket timeout: Node 20's fetch can wait forever, with nothing keeping the
// process alive, on a connection docker-proxy accepts while Synapse is still starting.
export const synapseUp = (port: number) => async () => (await request({ host: "127.0.0.1", port, path: "/health", timeoutMs: 5000 })).status === 200;

/**
 * How the workload reaches a deployment, the same for every side: the owner through host nginx's
 * site, the bridges the way the deployment's own bridges go (the kit's queue, or Synapse itself
 * where bridgeQueue is off), Synapse on its published port; the app services' tokens.
 */
export function reachOf(s: Settings, sec: Secrets): Pick<Deployment, "namePrefix" | "front" | "synapseUrl" | "bridgesUrl" | "domain" | "asTokens"> {
  return {
    namePrefix: s.namePrefix,
    front: { port: s.nginx.httpPort, host: s.matrixHost },
    synapseUrl: `http://127.0.0.1:${s.synapse.hostPort}`,
    bridgesUrl: onPrivateNetwork(bridgesHomeserverAddress(s)),
    domain: s.domain,
    asTokens: { qq: sec.qq.asToken, wechat: sec.wechat.asToken },
  };
}

/** The kit: the program's resources, applied as `pulumi up` would; a variant replaces stack settings (full keys). */
export async function deployKit(log: (l: string) => void, variant?: { name: string; values: Record<string, unknown> }): Promise<Deployment> {
  // A repository of this deployment's own, new each time: its password derives from this deployment's seed.
  const repository = `${E2E_DIR}/bench/backup-repo-${variant?.name ?? "kit"}`;
  fs.rmSync(repository, { recursive: true, force: true });
  // The variant's settings too: what this side runs (the bridges' queue or not) is read from them.
  const s = settingsFor(KIT_PREFIX, deepMerge({ "matrix:backup": { repository } }, variant?.values ?? {}));
  removeLeftovers();
  const seed = randomBytes(24).toString("hex");
  const hostKey = fs.readFileSync(`${E2E_DIR}/host_ed25519.pub`, "utf8").split(" ").slice(0, 2).join(" ");
  const program = await runProgram({
    stack: STACK,
    secrets: {
      "matrix:secretSeed": seed,
      "matrix:sshPrivateKey": fs.readFileSync(`${E2E_DIR}/id_ed25519`, "utf8"),
      "matrix:cloudflareApiToken": "bench-cloudflare-token-not-used-by-any-api",
    },
    // A variant's values are merged into the stack file's (its image settings stay).
    values: deepMerge({ ...readStackFile(stackFilePath(STACK)).values, "matrix:target": { ...s.target, hostKey }, "matrix:backup": { repository } }, variant?.values ?? {}),
    invokes: "run",
  });
  const applied: Applied = await apply(program, { retainVolumes: false, log });
  await waitFor("the kit's Synapse", 120_000, synapseUp(s.synapse.hostPort));
  const sec = deriveSecrets(seed);
  return {
    label: variant ? `kit+${variant.name}` : "kit",
    ...reachOf(s, sec),
    subject: subjectFromSettings(s),
    // Made by the program with the password derived from the seed (render/owner.ts).
    owner: () => ({ localpart: s.admin, password: sec.ownerPassword }),
    synapseLog: () => containerLog(containerName(s, "synapse")),
    upkeepRun: s.upkeep.enabled ? hostPath(s, "upkeep", "run.sh") : undefined,
    backup: s.backup.enabled ? { ...backupPaths(s), repository } : undefined,
    teardown: async () => {
      const errors = await destroyApplied(applied, { log });
      if (errors.length) throw new Error(`destroy: ${errors.join("; ")}`);
      removeByPrefix(s.namePrefix);
    },
  };
}

