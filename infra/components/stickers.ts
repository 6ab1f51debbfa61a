/**
 * The sticker picker widget the kit hosts: its page, script and style on the host,
 * served by host nginx at https://<matrixHost>/stickers/ (templates/nginx/site.conf.hbs). The
 * packs under stickers/packs/ are written by `npm run stickers`, not by this program: destroy
 * removes the widget's files and leaves the packs, like the media they point at.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "./host";
import { HostFile } from "./host-file";
import { STICKER_WIDGET_FILES } from "../render/stickers";
import { hostPath, type Settings } from "../settings";

const DIR = path.resolve(__dirname, "../../templates/stickers");

export interface StickersArgs {
  settings: Settings;
  host: Host;
}

export class Stickers extends pulumi.ComponentResource {
  readonly files: HostFile[];

  constructor(name: string, args: StickersArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Stickers", name, {}, opts);
    const s = args.settings;
    // Read by nginx's workers (www-data): world-readable, owned by root.
    this.files = STICKER_WIDGET_FILES.map(
      (f) =>
        new HostFile(
          `${name}-${f.id}`,
          { host: args.host, root: s.hostDir, path: hostPath(s, "stickers", f.file), content: fs.readFileSync(path.join(DIR, f.file), "utf8"), owner: { uid: 0, gid: 0, mode: "0644" } },
          { parent: this },
        ),
    );
    this.registerOutputs({});
  }
}
