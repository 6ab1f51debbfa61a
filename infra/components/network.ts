/** The private Docker network the kit's containers talk over (by container name). */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "./host";
import { networkName, type Settings } from "../settings";

export class PrivateNetwork extends pulumi.ComponentResource {
  readonly name: string;
  readonly network: docker.Network;

  constructor(name: string, args: { settings: Settings; host: Host }, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:PrivateNetwork", name, {}, opts);
    this.name = networkName(args.settings);
    this.network = new docker.Network(
      `${name}-network`,
      { name: this.name, driver: "bridge", labels: [{ label: "kit.matrix/stack", value: args.settings.stack }] },
      { parent: this, provider: args.host.provider },
    );
    this.registerOutputs({ name: this.name });
  }
}
