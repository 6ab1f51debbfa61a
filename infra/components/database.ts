/**
 * PostgreSQL: one server; Synapse's database (UTF8, C) and one per bridge, each owned by its
 * service's own role. The superuser's password reaches the server as a file.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerArgs, dataVolume, remoteImage } from "./container";
import type { Host } from "./host";
import { HostFile } from "./host-file";
import { postgresSpec, postgresWrapperHostPath, renderPostgresPassword, renderPostgresWrapper } from "../render/containers";
import { awaitHealthy } from "./upgrade";
import { initDatabasesScript } from "../render/host";
import { databasesSql } from "../render/postgres";
import type { Secrets } from "../secrets";
import { hostPath, type Settings } from "../settings";

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
    // Read by the entrypoint as the postgres user (it drops root first): its file alone.
    const password = new HostFile(
      `${name}-password`,
      {
        host: args.host,
        root: s.hostDir,
        path: hostPath(s, "postgres", "password"),
        content: args.secrets.apply(renderPostgresPassword),
        owner: { uid: s.postgres.uid, gid: s.postgres.uid, mode: "0600" },
      },
      { parent: this },
    );
    // Run by the entrypoint as the postgres user: root's, readable and runnable by all, holding no secret.
    const wrapper = new HostFile(
      `${name}-server-wrapper`,
      { host: args.host, root: s.hostDir, path: postgresWrapperHostPath(s), content: renderPostgresWrapper(), owner: { uid: 0, gid: 0, mode: "0755" } },
      { parent: this },
    );
    this.container = new docker.Container(
      `${name}-container`,
      containerArgs(spec, { command: spec.command, configDigests: [wrapper.digest], stack: s.stack }),
      { parent: this, provider, dependsOn: [volume, image, password, wrapper, args.network, ...(args.beforeReplace ?? [])] },
    );
    const healthy = awaitHealthy(`${name}-healthy`, { settings: s, host: args.host, container: this.container, service: "postgres" }, this);
    this.ready = args.host.script(
      `${name}-databases`,
      // Re-run when the container is replaced: the SQL is idempotent. It holds no password, only
      // each role's SCRAM verifier (render/postgres.ts).
      { create: initDatabasesScript(spec.name, s.postgres.superuser), stdin: args.secrets.apply((sec) => databasesSql(s, sec)), triggers: [this.container.id] },
      { parent: this, dependsOn: [healthy] },
    );
    this.registerOutputs({ container: this.container.name });
  }
}
