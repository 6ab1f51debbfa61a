/**
 * Backups (render/backup.ts): the backup and restore scripts, the
 * repository's password (root only) and the nightly cron entry (the backup before an image upgrade
 * is components/upgrade.ts's). Destroy removes the entry and
 * the scripts; the repository, wherever it is, is never touched by the kit. That restic is there and
 * opens the repository is checked before anything changes (preflight.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "./host";
import { HostFile } from "./host-file";
import { backupCronPath, backupPaths, renderBackupCron, renderBackupPassword, renderBackupScript, renderRestoreScript } from "../render/backup";
import { removeFileScript } from "../render/host";
import type { Secrets } from "../secrets";
import type { BackupSettings, Settings } from "../settings";

export interface BackupArgs {
  settings: Settings;
  backup: Extract<BackupSettings, { enabled: true }>;
  host: Host;
  secrets: pulumi.Output<Secrets>;
}

export class Backup extends pulumi.ComponentResource {
  /** With matrix:backup.beforeDestroy: what the destroy guard runs before anything is removed (Host.guardDestroy). */
  readonly beforeDestroy?: { stack: string; script: string };

  constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Backup", name, {}, opts);
    const s = args.settings;
    const p = backupPaths(s);
    if (args.backup.beforeDestroy) this.beforeDestroy = { stack: s.stack, script: p.script };
    // Made by the runs (restic's cache, the last result); removed after the files above it.
    const workDir = args.host.script(`${name}-work`, { create: "true", delete: removeFileScript(p.dir, s.hostDir, { tree: true }) }, { parent: this });
    // The result file's directory (status and the watchdog read it): made by the first run.
    args.host.script(`${name}-state`, { create: "true", delete: removeFileScript(p.stateDir, s.hostDir, { tree: true }) }, { parent: this });
    const file = (id: string, path: string, content: pulumi.Input<string>, mode: string) =>
      new HostFile(`${name}-${id}`, { host: args.host, root: s.hostDir, path, content, owner: { uid: 0, gid: 0, mode } }, { parent: this, dependsOn: [workDir] });
    const files = [
      file("script", p.script, renderBackupScript(s, args.backup), "0700"),
      file("restore", p.restore, renderRestoreScript(s, args.backup), "0700"),
      file("password", p.passwordFile, args.secrets.apply((sec) => renderBackupPassword(sec.backupPassword)), "0600"),
    ];
    new HostFile(
      `${name}-cron`,
      { host: args.host, root: null, path: backupCronPath(s), content: renderBackupCron(s, args.backup), owner: { uid: 0, gid: 0, mode: "0644" } },
      { parent: this, dependsOn: files },
    );
    this.registerOutputs({ script: p.script });
  }
}
