/**
 * The upkeep job (render/upkeep.ts): its script, configuration and runner on the host, and the
 * cron entry that starts it. Nothing runs between runs; a reboot keeps the cron file, so the
 * schedule survives it. Destroy removes the entry, the files and the job's cache; its log in
 * /var/log stays.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "./host";
import { HostFile } from "./host-file";
import { KIT_MATRIX_PY, pythonModules } from "./python-modules";
import { checkCronScript, removeFileScript } from "../render/host";
import { renderUpkeepConfig, renderUpkeepCron, renderUpkeepRunScript, upkeepCronPath, upkeepDrainScript } from "../render/upkeep";
import type { Secrets } from "../secrets";
import { hostPath, type Settings, type UpkeepSettings } from "../settings";

/** The job's script and the modules it imports from beside it (its database work). */
const UPKEEP_DIR = path.resolve(__dirname, "../../templates/upkeep");

export interface UpkeepArgs {
  settings: Settings;
  upkeep: Extract<UpkeepSettings, { enabled: true }>;
  host: Host;
  secrets: pulumi.Output<Secrets>;
  /** Synapse and PostgreSQL, which the job talks to. */
  dependsOn: pulumi.Resource[];
}

export class Upkeep extends pulumi.ComponentResource {
  readonly cronPath: string;

  constructor(name: string, args: UpkeepArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Upkeep", name, {}, opts);
    const s = args.settings;
    this.cronPath = upkeepCronPath(s);
    const cronReady = args.host.script(`${name}-cron-check`, { create: checkCronScript() }, { parent: this });
    // Made by the job (pip's target, the last run's summary); removed after the files above it.
    const cache = args.host.script(
      `${name}-cache`,
      { create: "true", delete: removeFileScript(hostPath(s, "upkeep", "cache"), s.hostDir, { tree: true }) },
      { parent: this },
    );
    const file = (id: string, fileName: string, content: pulumi.Input<string>, mode: string) =>
      new HostFile(`${name}-${id}`, { host: args.host, root: s.hostDir, path: hostPath(s, "upkeep", fileName), content, owner: { uid: 0, gid: 0, mode } }, { parent: this, dependsOn: [cache] });
    const files = [
      // The job's script and the modules beside it, and the Matrix helpers it shares with the watchdog.
      ...pythonModules(UPKEEP_DIR, "upkeep.py").map((m) => file(m.id, m.fileName, m.content, "0644")),
      file("lib", "kit_matrix.py", fs.readFileSync(KIT_MATRIX_PY, "utf8"), "0644"),
      // Holds the database password and the shared secret: root only.
      file("config", "config.json", args.secrets.apply((sec) => renderUpkeepConfig(s, args.upkeep, sec)), "0600"),
      file("run", "run.sh", renderUpkeepRunScript(s, args.upkeep), "0755"),
    ];
    // On destroy, after the cron entry is gone and before the network and Synapse go: waits
    // for a run in flight (its container is on the network, whose removal it would block).
    const drain = args.host.script(`${name}-drain`, { create: "true", delete: upkeepDrainScript(s) }, { parent: this, dependsOn: args.dependsOn });
    new HostFile(
      `${name}-cron`,
      { host: args.host, root: null, path: this.cronPath, content: renderUpkeepCron(s, args.upkeep), owner: { uid: 0, gid: 0, mode: "0644" } },
      { parent: this, dependsOn: [cronReady, drain, ...files] },
    );
    this.registerOutputs({ cronPath: this.cronPath });
  }
}
