/**
 * Image upgrades (render/upgrade.ts): the step the containers holding data wait for, run again
 * whenever one of their images changes, and the wait for a new Synapse or PostgreSQL to report
 * healthy that stops the update with its last log lines and the rollback.
 */
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "./host";
import { removeFileScript } from "../render/host";
import { renderAwaitHealthyScript, renderBeforeUpgradeScript, upgradeDir, upgradeTriggers } from "../render/upgrade";
import type { Settings } from "../settings";

export interface UpgradeArgs {
  settings: Settings;
  host: Host;
  /** What the step needs first: the backup's scripts when it takes a backup. */
  after: pulumi.Resource[];
}

export class Upgrade extends pulumi.ComponentResource {
  /** Replacing a container holding data waits for this. */
  readonly before: pulumi.Resource;

  constructor(name: string, args: UpgradeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Upgrade", name, {}, opts);
    const s = args.settings;
    // The note's folder has a resource of its own: the step is replaced on every image change,
    // and a delete script on it would remove the note the replacement has just written.
    const dir = args.host.script(`${name}-dir`, { create: "true", delete: removeFileScript(upgradeDir(s), s.hostDir, { tree: true }) }, { parent: this });
    this.before = args.host.script(
      `${name}-before`,
      { create: renderBeforeUpgradeScript(s), triggers: upgradeTriggers(s) },
      { parent: this, dependsOn: [dir, ...args.after] },
    );
    this.registerOutputs({});
  }
}

/**
 * Waits for the new container's health check (instead of the docker provider's `wait`, whose
 * timeout error shows neither the container's logs nor a way back). Re-run whenever the container
 * is replaced.
 */
export function awaitHealthy(
  name: string,
  args: { settings: Settings; host: Host; container: docker.Container; service: "postgres" | "synapse" },
  parent: pulumi.Resource,
): pulumi.Resource {
  return args.host.script(
    name,
    { create: renderAwaitHealthyScript(args.settings, args.service), triggers: [args.container.id] },
    { parent, dependsOn: [args.container] },
  );
}
