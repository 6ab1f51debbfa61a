/** Matrix discovery: the public URL and the `.well-known/matrix/*` bodies. */
import type { Settings } from "../settings";
import { federates } from "./federation";

/** Whether clients reach the Matrix host over TLS (at Cloudflare or at host nginx). */
export function isHttps(s: Settings): boolean {
  return s.cloudflare.enabled || s.nginx.tls !== undefined;
}

/** The URL clients use: https://<matrix host> behind TLS; plain HTTP only for a local stack. */
export function publicBaseUrl(s: Settings): string {
  if (isHttps(s)) return `https://${s.matrixHost}`;
  return s.nginx.httpPort === 80 ? `http://${s.matrixHost}` : `http://${s.matrixHost}:${s.nginx.httpPort}`;
}

/**
 * Body of /.well-known/matrix/server: federation goes to the Matrix host on 443 (no 8448 needed).
 * null when federation is off (matrix:federation.mode): nothing is published, the path is a 404.
 */
export function serverWellKnown(s: Settings): { "m.server": string } | null {
  if (!federates(s)) return null;
  return { "m.server": `${s.matrixHost}:${isHttps(s) ? 443 : s.nginx.httpPort}` };
}

/** Body of /.well-known/matrix/client. */
export function clientWellKnown(s: Settings): { "m.homeserver": { base_url: string } } {
  return { "m.homeserver": { base_url: publicBaseUrl(s) } };
}
