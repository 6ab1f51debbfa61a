/** One file the kit places on the host, with the ownership its container needs. */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "./host";
import { removeFileScript, writeFileScript, type FileOwner } from "../render/host";

export interface HostFileArgs {
  host: Host;
  path: string;
  /** The kit's directory on the host: emptied directories are removed up to it on destroy; null: none are. */
  root: string | null;
  content: pulumi.Input<string>;
  owner: FileOwner;
}

export class HostFile extends pulumi.ComponentResource {
  readonly path: string;
  /** sha256 of the content: a container labelled with it is replaced when the file changes. */
  readonly digest: pulumi.Output<string>;

  constructor(name: string, args: HostFileArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:HostFile", name, {}, opts);
    this.path = args.path;
    const content = pulumi.output(args.content);
    this.digest = content.apply((c) => createHash("sha256").update(c).digest("hex"));
    args.host.script(
      `${name}-write`,
      { create: writeFileScript(args.path, args.owner), delete: removeFileScript(args.path, args.root), stdin: content },
      // A component's dependsOn does not hold back its children: the write itself waits for them.
      { parent: this, dependsOn: opts?.dependsOn },
    );
    this.registerOutputs({ path: this.path, digest: this.digest });
  }
}
