/** The watchdog: its script and configuration on the host, and its container (render/watchdog.ts). */
import * as fs from "node:fs";
import * as path from "node:path";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerArgs } from "./container";
import { DockerFilter } from "./docker-filter";
import type { Host } from "./host";
import { HostFile } from "./host-file";
import { KIT_MATRIX_PY, pythonModules } from "./python-modules";
import { removeFileScript } from "../render/host";
import { renderWatchdogConfig, watchdogSpec, watchdogStateDir } from "../render/watchdog";
import type { Secrets } from "../secrets";
import { hostPath, type Settings, type WatchdogSettings } from "../settings";

/** The script and the modules it imports from beside it (the probe's Matrix side, the watches over backups and the certificate, ...). */
const WATCHDOG_DIR = path.resolve(__dirname, "../../templates/watchdog");

export interface WatchdogArgs {
  settings: Settings;
  watchdog: Extract<WatchdogSettings, { enabled: true }>;
  host: Host;
  secrets: pulumi.Output<Secrets>;
  /** The bridges it watches and Synapse it talks to. */
  dependsOn: pulumi.Resource[];
}

export class Watchdog extends pulumi.ComponentResource {
  readonly container: docker.Container;

  constructor(name: string, args: WatchdogArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Watchdog", name, {}, opts);
    const s = args.settings;
    const spec = watchdogSpec(s, args.watchdog);
    // Read by the Synapse image's user-less python as root; the config holds the shared secret.
    const file = (id: string, fileName: string, content: pulumi.Input<string>, mode: string) =>
      new HostFile(`${name}-${id}`, { host: args.host, root: s.hostDir, path: hostPath(s, "watchdog", fileName), content, owner: { uid: 0, gid: 0, mode } }, { parent: this });
    const files = [
      ...pythonModules(WATCHDOG_DIR, "watchdog.py").map((m) => file(m.id, m.fileName, m.content, "0644")),
      file("lib", "kit_matrix.py", fs.readFileSync(KIT_MATRIX_PY, "utf8"), "0644"),
      file("config", "config.json", args.secrets.apply((sec) => renderWatchdogConfig(s, args.watchdog, sec)), "0600"),
    ];
    // Its restart counts (npm run status): made by docker's bind mount, removed on destroy after the container.
    const state = args.host.script(`${name}-state`, { create: "true", delete: removeFileScript(watchdogStateDir(s), s.hostDir, { tree: true }) }, { parent: this });
    // Its only way to Docker: the filter, on a network of their own.
    const filter = new DockerFilter(`${name.replace(/-watchdog$/, "")}-docker-filter`, { settings: s, watchdog: args.watchdog, host: args.host }, { parent: this });
    this.container = new docker.Container(
      `${name}-container`,
      containerArgs(spec, { configDigests: files.map((f) => f.digest), stack: s.stack }),
      { parent: this, provider: args.host.provider, dependsOn: [...files, state, filter, ...args.dependsOn] },
    );
    this.registerOutputs({ container: this.container.name });
  }
}
