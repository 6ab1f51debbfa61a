/**
 * The machine everything runs on: a Docker provider for its engine and a way to
 * run shell scripts on it. `local` uses this machine's socket and shell; `ssh`
 * reaches the VPS (the docker provider shells out to `ssh`, so it authenticates
 * with `identityFile` or the ssh agent; command resources get the key secret).
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "./settings";

export interface HostArgs {
  settings: Settings;
  /** Required for an `ssh` target. */
  sshPrivateKey?: pulumi.Output<string>;
}

export interface ScriptArgs {
  create: pulumi.Input<string>;
  delete?: pulumi.Input<string>;
  /** Data for the script (file contents, SQL): kept off the command line. */
  stdin?: pulumi.Input<string>;
  /** Re-run create when any of these change. */
  triggers?: pulumi.Input<unknown>[];
}

export class Host extends pulumi.ComponentResource {
  readonly provider: docker.Provider;
  /** `ssh://user@host:port` or the local socket: what the docker provider talks to. */
  readonly dockerHost: string;
  private readonly connection?: command.types.input.remote.ConnectionArgs;

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Host", name, {}, opts);
    const t = args.settings.target;
    if (t.kind === "ssh") {
      if (!args.sshPrivateKey) throw new pulumi.ResourceError("matrix:sshPrivateKey is required for an ssh target", this);
      this.dockerHost = `ssh://${t.user}@${t.host}:${t.port}`;
      this.connection = { host: t.host, port: t.port, user: t.user, privateKey: args.sshPrivateKey };
    } else {
      this.dockerHost = "unix:///var/run/docker.sock";
    }
    this.provider = this.createProvider(name, args.settings);
    this.registerOutputs({ dockerHost: this.dockerHost });
  }

  private createProvider(name: string, s: Settings): docker.Provider {
    const t = s.target;
    const sshOpts =
      t.kind === "ssh" && t.identityFile ? ["-i", t.identityFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"] : undefined;
    return new docker.Provider(`${name}-docker`, { host: this.dockerHost, ...(sshOpts ? { sshOpts } : {}) }, { parent: this });
  }

  /** A shell script on the host, as a child of `parent`. */
  script(name: string, args: ScriptArgs, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
    const common = {
      create: args.create,
      ...(args.delete !== undefined ? { delete: args.delete } : {}),
      ...(args.stdin !== undefined ? { stdin: args.stdin } : {}),
      ...(args.triggers !== undefined ? { triggers: args.triggers } : {}),
    };
    if (this.connection) {
      return new command.remote.Command(name, { connection: this.connection, ...common }, opts);
    }
    return new command.local.Command(name, { interpreter: ["/bin/sh", "-c"], ...common }, opts);
  }
}
