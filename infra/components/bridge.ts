/** One bridge (QQ or WeChat): its config and registration in /data, and its container. */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerArgs, remoteImage } from "./container";
import type { Host } from "./host";
import { HostFile } from "./host-file";
import { renderBridgeConfig, renderRegistration } from "../render/bridges";
import { bridgeSpec } from "../render/containers";
import type { Secrets } from "../secrets";
import { hostPath, type Bridge as BridgeSettings, type Settings } from "../settings";

export interface BridgeArgs {
  settings: Settings;
  bridge: BridgeSettings;
  host: Host;
  secrets: pulumi.Output<Secrets>;
  /** Synapse is healthy (the bridge pings it on start) and the databases exist. */
  dependsOn: pulumi.Resource[];
  databaseContainer: docker.Container;
}

export class Bridge extends pulumi.ComponentResource {
  readonly container: docker.Container;

  constructor(name: string, args: BridgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Bridge", name, {}, opts);
    const s = args.settings;
    const b = args.bridge;
    const provider = args.host.provider;
    const spec = bridgeSpec(s, b);
    // The bridge rewrites its config on start, so the files are its own (uid/gid of the image's user).
    const owner = { uid: b.uid, gid: b.gid, mode: "0600" };
    const file = (id: string, fileName: string, content: pulumi.Input<string>) =>
      new HostFile(`${name}-${id}`, { host: args.host, root: s.hostDir, path: hostPath(s, b.kind, fileName), content, owner }, { parent: this });
    const files = [
      file("config", "config.yaml", args.secrets.apply((sec) => renderBridgeConfig(s, b, sec))),
      file("registration", "registration.yaml", args.secrets.apply((sec) => renderRegistration(s, b, sec))),
    ];
    const image = remoteImage(`${name}-image`, spec.image, { parent: this, provider });
    this.container = new docker.Container(
      `${name}-container`,
      containerArgs(spec, { configDigests: files.map((f) => f.digest), databaseContainer: args.databaseContainer, stack: s.stack }),
      { parent: this, provider, dependsOn: [...files, image, ...args.dependsOn] },
    );
    this.registerOutputs({ container: this.container.name });
  }
}
