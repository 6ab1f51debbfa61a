/** The Cloudflare Worker that answers `<domain>/.well-known/matrix/*` (ES module syntax). */
import type { Settings } from "../settings";
import { clientWellKnown, serverWellKnown } from "./discovery";
import { renderTemplate } from "./templates";

/** Module name the script is uploaded under (WorkersScript.mainModule). */
export const WORKER_MODULE = "well-known.mjs";

export function renderWorker(s: Settings): string {
  return renderTemplate("worker/well-known.js.hbs", {
    stack: s.stack,
    domain: s.domain,
    matrixHost: s.matrixHost,
    server: serverWellKnown(s),
    client: clientWellKnown(s),
  });
}

/** The route pattern the Worker is bound to. */
export function workerRoutePattern(s: Settings): string {
  return `${s.domain}/.well-known/matrix/*`;
}

/** Workers runtime date the script is written against (WorkersScript.compatibilityDate). */
export const COMPATIBILITY_DATE = "2025-01-01";
