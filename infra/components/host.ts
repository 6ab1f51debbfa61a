/**
 * The machine everything runs on: a Docker provider for its engine and a way to
 * run shell scripts on it. `local` uses this machine's socket and shell; `ssh`
 * reaches the VPS (the docker provider shells out to `ssh`, so it authenticates
 * with `identityFile` or the ssh agent; command resources get the key secret).
 * Both check the VPS's host key (matrix:target.hostKey): see render/ssh.ts; `preflight()`
 * compares it with what the VPS presents before this component is made.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { DESTROY_GUARD, dockerSshOpts, reachDockerScript } from "../render/ssh";
import type { Settings } from "../settings";

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
  private readonly target: Settings["target"];

  /** Call after `preflight()`: the host key has been compared before anything reaches the VPS. */
  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Host", name, {}, opts);
    const t = (this.target = args.settings.target);
    if (t.kind === "ssh") {
      if (!args.sshPrivateKey) throw new pulumi.ResourceError("matrix:sshPrivateKey is required for an ssh target", this);
      this.dockerHost = `ssh://${t.user}@${t.host}:${t.port}`;
      this.connection = {
        host: t.host,
        port: t.port,
        user: t.user,
        privateKey: args.sshPrivateKey,
        ...(t.hostKey ? { hostKey: t.hostKey } : {}),
      };
    } else {
      this.dockerHost = "unix:///var/run/docker.sock";
    }
    // The ssh options (the pinned key included) are the provider's configuration, kept in the
    // state: refresh and destroy, which do not run the program, connect with them.
    this.provider = new docker.Provider(
      `${name}-docker`,
      { host: this.dockerHost, ...(t.kind === "ssh" ? { sshOpts: dockerSshOpts(t) } : {}) },
      { parent: this },
    );
    this.registerOutputs({ dockerHost: this.dockerHost });
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
      // No delete script reads the previous output, and sshd refuses the environment requests
      // that carry it: each delete printed "Unable to set 'PULUMI_COMMAND_STDERR'".
      return new command.remote.Command(name, { connection: this.connection, addPreviousOutputInEnv: false, ...common }, opts);
    }
    return new command.local.Command(name, { interpreter: ["/bin/sh", "-c"], ...common }, opts);
  }

  /**
   * The destroy guard: a resource that depends on every other one, so `pulumi destroy` deletes
   * it first; its delete reaches the Docker engine as the docker provider would, and when it
   * cannot, the destroy stops with nothing removed (a destroy that removed the cron entry and
   * the site and then failed on the first container left the containers running).
   * With `backupFirst` it then takes a backup (matrix:backup.beforeDestroy), and stops the
   * destroy the same way when that fails.
   */
  guardDestroy(name: string, after: pulumi.Resource[], backupFirst?: { stack: string; script: string }): pulumi.CustomResource {
    return new command.local.Command(
      name,
      {
        interpreter: ["/bin/sh", "-c"],
        create: "true",
        delete: DESTROY_GUARD.command,
        environment: { [DESTROY_GUARD.variable]: reachDockerScript(this.target, backupFirst) },
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: after },
    );
  }
}
