/** PostgreSQL: one server, the Synapse database (UTF8, C) and one database per bridge. */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerArgs, dataVolume, remoteImage } from "./container";
import type { Host } from "./host";
import { awaitHealthy } from "./upgrade";
import { postgresSpec } from "../render/containers";
import { initDatabasesScript } from "../render/host";
import { databasesSql } from "../render/postgres";
import type { Secrets } from "../secrets";
import type { Settings } from "../settings";

export interface DatabaseArgs {
  settings: Settings;
  host: Host;
  secrets: pulumi.Output<Secrets>;
  network: pulumi.Resource;
  /** Done before this container is replaced (Upgrade.before). */
  beforeReplace?: pulumi.Resource[];
}

export class Database extends pulumi.ComponentResource {
  readonly container: docker.Container;
  /** Done when every database exists: Synapse and the bridges depend on this. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Database", name, {}, opts);
    const s = args.settings;
    const provider = args.host.provider;
    const spec = postgresSpec(s);
    const volume = dataVolume(`${name}-data`, s, "postgres", { parent: this, provider });
    const image = remoteImage(`${name}-image`, spec.image, { parent: this, provider });
    this.container = new docker.Container(
      `${name}-container`,
      containerArgs(spec, { secrets: args.secrets, command: spec.command, stack: s.stack }),
      { parent: this, provider, dependsOn: [volume, image, args.network, ...(args.beforeReplace ?? [])] },
    );
    const healthy = awaitHealthy(`${name}-healthy`, { settings: s, host: args.host, container: this.container, service: "postgres" }, this);
    this.ready = args.host.script(
      `${name}-databases`,
      // Re-run when the container is replaced: the SQL is idempotent.
      { create: initDatabasesScript(spec.name, s.postgres.user), stdin: databasesSql(s), triggers: [this.container.id] },
      { parent: this, dependsOn: [healthy] },
    );
    this.registerOutputs({ container: this.container.name });
  }
}
