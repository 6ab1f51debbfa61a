/** The bridges' queue to Synapse: HAProxy on the private network (render/bridge-queue.ts). */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerArgs } from "./container";
import type { Host } from "./host";
import { HostFile } from "./host-file";
import { bridgeQueueSpec, renderBridgeQueueAdmission, renderBridgeQueueConfig } from "../render/bridge-queue";
import { hostPath, type BridgeQueueSettings, type Settings } from "../settings";

export interface BridgeQueueArgs {
  settings: Settings;
  queue: Extract<BridgeQueueSettings, { enabled: true }>;
  host: Host;
  /** The private network it shares with Synapse and the bridges. */
  network: docker.Network;
}

export class BridgeQueue extends pulumi.ComponentResource {
  readonly container: docker.Container;

  constructor(name: string, args: BridgeQueueArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:BridgeQueue", name, {}, opts);
    const s = args.settings;
    // Nothing secret in it; read by HAProxy (the image's user haproxy, hence readable by all).
    const config = new HostFile(
      `${name}-config`,
      { host: args.host, root: s.hostDir, path: hostPath(s, "bridge-queue", "haproxy.cfg"), content: renderBridgeQueueConfig(s, args.queue), owner: { uid: 0, gid: 0, mode: "0644" } },
      { parent: this },
    );
    // When the limit holds only while the CPU is busy or the owner active: the script that watches them, beside the config.
    const script = renderBridgeQueueAdmission(args.queue);
    const admission =
      script === null
        ? []
        : [new HostFile(`${name}-admission`, { host: args.host, root: s.hostDir, path: hostPath(s, "bridge-queue", "admission.lua"), content: script, owner: { uid: 0, gid: 0, mode: "0644" } }, { parent: this })];
    const spec = bridgeQueueSpec(s, args.queue);
    // It starts without Synapse (its address is resolved when it answers): the bridges wait on it, not it on Synapse.
    this.container = new docker.Container(
      `${name}-container`,
      containerArgs(spec, { command: spec.command, configDigests: [config.digest, ...admission.map((f) => f.digest)], stack: s.stack }),
      { parent: this, provider: args.host.provider, dependsOn: [config, ...admission, args.network] },
    );
    this.registerOutputs({ container: this.container.name });
  }
}
