/**
 * The main config of a private nginx for tests (the real binary, its own prefix): pid, logs and
 * EVERY temp path inside `dir`. A temp path left at its default (/var/lib/nginx/...) is created
 * and chowned to the worker user by `nginx -t` and at start, as root without a `user` directive
 * that is `nobody`: the machine's own nginx then failed its uploads with "Permission denied".
 */
import * as fs from "node:fs";
import * as path from "node:path";

export const NGINX_TEMP_PATHS = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] as const;

/** Writes `<dir>/nginx.conf` including `include` (a file or glob) in its http block; resolves with its path. */
export function privateNginxConf(dir: string, include: string): string {
  const conf = path.join(dir, "nginx.conf");
  fs.writeFileSync(
    conf,
    [
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log;`,
      "events {}",
      "http {",
      "    access_log off;",
      ...NGINX_TEMP_PATHS.map((t) => `    ${t}_temp_path ${dir}/${t}_temp;`),
      `    include ${include};`,
      "}",
      "",
    ].join("\n"),
  );
  return conf;
}
