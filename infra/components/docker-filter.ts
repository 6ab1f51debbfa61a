/** The Docker filter: the only holder of the Docker socket, for the watchdog (render/docker-filter.ts). */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerArgs } from "./container";
import type { Host } from "./host";
import { HostFile } from "./host-file";
import { dockerFilterNetworkName, dockerFilterSpec, renderDockerFilterConfig } from "../render/docker-filter";
import { hostPath, type Settings, type WatchdogSettings } from "../settings";

export interface DockerFilterArgs {
  settings: Settings;
  watchdog: Extract<WatchdogSettings, { enabled: true }>;
  host: Host;
}

export class DockerFilter extends pulumi.ComponentResource {
  readonly network: docker.Network;
  readonly container: docker.Container;

  constructor(name: string, args: DockerFilterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:DockerFilter", name, {}, opts);
    const s = args.settings;
    // Internal: no route out, and only the filter and the watchdog join it, so no bridge reaches the filter.
    this.network = new docker.Network(
      `${name}-network`,
      { name: dockerFilterNetworkName(s), driver: "bridge", internal: true, labels: [{ label: "kit.matrix/stack", value: s.stack }] },
      { parent: this, provider: args.host.provider },
    );
    // Nothing secret in it; read by HAProxy as root.
    const config = new HostFile(
      `${name}-config`,
      { host: args.host, root: s.hostDir, path: hostPath(s, "docker-filter", "haproxy.cfg"), content: renderDockerFilterConfig(s), owner: { uid: 0, gid: 0, mode: "0644" } },
      { parent: this },
    );
    const spec = dockerFilterSpec(s, args.watchdog);
    this.container = new docker.Container(
      `${name}-container`,
      containerArgs(spec, { command: spec.command, configDigests: [config.digest], stack: s.stack }),
      { parent: this, provider: args.host.provider, dependsOn: [config, this.network] },
    );
    this.registerOutputs({ container: this.container.name, network: this.network.name });
  }
}
