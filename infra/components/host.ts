/**
 * The machine everything runs on: a Docker provider for its engine and a way to
 * run shell scripts on it. `local` uses this machine's socket and shell; `ssh`
 * reaches the VPS (the docker provider shells out to `ssh`, so it authenticates
 * with `identityFile` or the ssh agent; command resources get the key secret).
 * Both check the VPS's host key (matrix:target.hostKey): see render/ssh.ts.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { dockerSshOpts, hostKeyCheckScript } from "../render/ssh";
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

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Host", name, {}, opts);
    const t = args.settings.target;
    let checked: pulumi.Output<unknown> = pulumi.output(true);
    if (t.kind === "ssh") {
      if (!args.sshPrivateKey) throw new pulumi.ResourceError("matrix:sshPrivateKey is required for an ssh target", this);
      this.dockerHost = `ssh://${t.user}@${t.host}:${t.port}`;
      checked = this.checkHostKey(t);
      // Everything that reaches the VPS waits for the check: both connections take their host from it.
      this.connection = {
        host: checked.apply(() => t.host),
        port: t.port,
        user: t.user,
        privateKey: args.sshPrivateKey,
        ...(t.hostKey ? { hostKey: t.hostKey } : {}),
      };
    } else {
      this.dockerHost = "unix:///var/run/docker.sock";
    }
    this.provider = new docker.Provider(
      `${name}-docker`,
      { host: checked.apply(() => this.dockerHost), ...(t.kind === "ssh" ? { sshOpts: dockerSshOpts(t) } : {}) },
      { parent: this },
    );
    this.registerOutputs({ dockerHost: this.dockerHost });
  }

  /**
   * An invoke, so it runs on every preview and update (a resource would run once):
   * writes the docker provider's known_hosts and stops the run, naming the setting,
   * when the VPS presents another key.
   */
  private checkHostKey(t: Extract<Settings["target"], { kind: "ssh" }>): pulumi.Output<unknown> {
    if (!t.hostKey) {
      pulumi.log.warn(
        `matrix:target.hostKey is "insecure-accept-any": the ssh host key of ${t.host} is not checked, so anyone on the path can impersonate the VPS. Set it to the VPS's key (cat /etc/ssh/ssh_host_ed25519_key.pub on the VPS).`,
        this,
      );
      return pulumi.output(true);
    }
    const hostKey = t.hostKey;
    return command.local.runOutput({ command: hostKeyCheckScript({ ...t, hostKey }), interpreter: ["/bin/sh", "-c"] }, { parent: this });
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
