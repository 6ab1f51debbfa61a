/**
 * Shell scripts the command resources run on the host. Values are quoted by
 * the templates' `sh` helper or restricted by `word`; file contents and SQL
 * travel on stdin, never on a command line (where `ps` would show secrets).
 */
import type { Settings } from "../settings";
import { nginxSitePath } from "./nginx";
import { renderTemplate } from "./templates";

export interface FileOwner {
  uid: number;
  gid: number;
  /** Octal mode, e.g. "0640". */
  mode: string;
}

function dirname(p: string): string {
  return p.slice(0, p.lastIndexOf("/")) || "/";
}

export function writeFileScript(path: string, owner: FileOwner): string {
  return renderTemplate("host/write-file.sh.hbs", { path, dir: dirname(path), ...owner });
}

/**
 * Remove a file (or, with `tree`, a directory and everything in it), then its directories up to
 * and including `root` while they are empty (never above `root`). `root: null`: the file is in a
 * directory the system owns (/etc/cron.d), which stays.
 */
export function removeFileScript(path: string, root: string | null, opts: { tree?: boolean } = {}): string {
  if (root !== null && !path.startsWith(`${root}/`)) throw new Error(`${path} is not under ${root}`);
  const dirs: string[] = [];
  if (root !== null) for (let d = dirname(path); d.length >= root.length; d = dirname(d)) dirs.push(d);
  return renderTemplate("host/remove-file.sh.hbs", { path, dirs, flags: opts.tree ? "-rf" : "-f" });
}

/** Fails, saying what to do, when the host has no certbot for ACME's certificates. */
export function checkCertbotScript(): string {
  return renderTemplate("host/check-certbot.sh.hbs", {});
}

/** Fails, saying what to do, when the host has no cron daemon to run the upkeep job. */
export function checkCronScript(): string {
  return renderTemplate("host/check-cron.sh.hbs", {});
}


/** Backup kept beside the site during an update; its name does not end in .conf, so nginx never includes it. */
function backupPath(s: Settings): string {
  return `${nginxSitePath(s)}.kit-previous`;
}

export function installNginxSiteScript(s: Settings): string {
  return renderTemplate("host/install-nginx-site.sh.hbs", {
    path: nginxSitePath(s),
    backup: backupPath(s),
    testCommand: s.nginx.testCommand,
    reloadCommand: s.nginx.reloadCommand,
  });
}

export function removeNginxSiteScript(s: Settings): string {
  return renderTemplate("host/remove-nginx-site.sh.hbs", {
    path: nginxSitePath(s),
    backup: backupPath(s),
    testCommand: s.nginx.testCommand,
    reloadCommand: s.nginx.reloadCommand,
  });
}

export function chownVolumeScript(volume: string, image: string, uid: number, gid: number): string {
  return renderTemplate("host/chown-volume.sh.hbs", { volume, image, uid, gid });
}

export function initDatabasesScript(container: string, user: string): string {
  return renderTemplate("host/init-databases.sh.hbs", { container, user });
}
