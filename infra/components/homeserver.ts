/** Synapse: its files on the host, its data volume (owned by 991) and its container. */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerArgs, dataVolume, remoteImage } from "./container";
import type { Host } from "./host";
import { HostFile } from "./host-file";
import { awaitHealthy } from "./upgrade";
import { renderDoublePuppetRegistration, renderRegistration } from "../render/bridges";
import { DOUBLE_PUPPET } from "../render/addresses";
import { synapseSpec } from "../render/containers";
import { appserviceHostPath, renderHomeserver, renderSynapseLogConfig } from "../render/homeserver";
import { adminAccountFile, adminTokenPath } from "../render/upkeep";
import { ownerAccountCommand, ownerAccountProgram } from "../render/owner";
import { chownVolumeScript, removeFileScript } from "../render/host";
import type { Secrets } from "../secrets";
import { enabledBridges, hostPath, volumeName, type Settings } from "../settings";

export interface HomeserverArgs {
  settings: Settings;
  host: Host;
  secrets: pulumi.Output<Secrets>;
  /** The database is ready (databases created). */
  database: pulumi.Resource;
  databaseContainer: docker.Container;
  /** Done before this container is replaced (Upgrade.before). */
  beforeReplace?: pulumi.Resource[];
  /** The owner's first password (matrix:ownerPassword, else derived from the seed). */
  ownerPassword: pulumi.Output<string>;
}

export class Homeserver extends pulumi.ComponentResource {
  readonly container: docker.Container;
  /** Synapse answers: its health check passed after the container was (re)created. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: HomeserverArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Homeserver", name, {}, opts);
    const s = args.settings;
    const provider = args.host.provider;
    const spec = synapseSpec(s);
    const files = this.createFiles(name, args);
    // The kit's admin account for operator commands run over ssh (npm run stickers): root only.
    // Synapse does not read it, so it is not among the files whose digests restart Synapse.
    // Its token, kept there by whoever logged in last (the upkeep job, npm run stickers): removed
    // after the account file on destroy, and with it the directory.
    const token = args.host.script(`${name}-admin-token`, { create: "true", delete: removeFileScript(adminTokenPath(s), s.hostDir) }, { parent: this });
    new HostFile(
      `${name}-admin-account`,
      { host: args.host, root: s.hostDir, path: hostPath(s, "admin", "account.json"), content: args.secrets.apply((sec) => adminAccountFile(s, sec)), owner: { uid: 0, gid: 0, mode: "0600" } },
      { parent: this, dependsOn: [token] },
    );
    const volume = dataVolume(`${name}-data`, s, "synapse", { parent: this, provider });
    const image = remoteImage(`${name}-image`, spec.image, { parent: this, provider });
    const owned = args.host.script(
      `${name}-data-owner`,
      { create: chownVolumeScript(volumeName(s, "synapse"), spec.image, s.synapse.uid, s.synapse.gid) },
      { parent: this, dependsOn: [volume, image] },
    );
    this.container = new docker.Container(
      `${name}-container`,
      containerArgs(spec, { configDigests: files.map((f) => f.digest), databaseContainer: args.databaseContainer, stack: s.stack }),
      { parent: this, provider, dependsOn: [...files, owned, args.database, ...(args.beforeReplace ?? [])] },
    );
    this.ready = awaitHealthy(`${name}-healthy`, { settings: s, host: args.host, container: this.container, service: "synapse" }, this);
    // The owner's account, once: an admin with its first password; an account already there is left as it is.
    args.host.script(
      `${name}-owner`,
      { create: ownerAccountCommand(s), stdin: pulumi.secret(pulumi.all([args.secrets, args.ownerPassword]).apply(([sec, pw]) => ownerAccountProgram(s, sec, pw))) },
      { parent: this, dependsOn: [this.ready] },
    );
    this.registerOutputs({ container: this.container.name });
  }

  /** homeserver.yaml, the log config, the signing key and the app service registrations, readable by 991 only. */
  private createFiles(name: string, args: HomeserverArgs): HostFile[] {
    const s = args.settings;
    const owner = { uid: s.synapse.uid, gid: s.synapse.gid, mode: "0600" };
    const file = (id: string, path: string, content: pulumi.Input<string>) =>
      new HostFile(`${name}-${id}`, { host: args.host, root: s.hostDir, path, content, owner }, { parent: this });
    return [
      file("config", hostPath(s, "synapse", "homeserver.yaml"), args.secrets.apply((sec) => renderHomeserver(s, sec))),
      file("log-config", hostPath(s, "synapse", "log.config"), renderSynapseLogConfig(s)),
      // Derived from the seed, so it survives container and even volume replacement.
      file("signing-key", hostPath(s, "synapse", "signing.key"), args.secrets.apply((sec) => sec.signingKey)),
      ...enabledBridges(s).map((b) =>
        file(`${b.kind}-registration`, appserviceHostPath(s, b.kind), args.secrets.apply((sec) => renderRegistration(s, b, sec))),
      ),
      file("double-puppet-registration", appserviceHostPath(s, DOUBLE_PUPPET.id), args.secrets.apply((sec) => renderDoublePuppetRegistration(s, sec))),
    ];
  }
}
