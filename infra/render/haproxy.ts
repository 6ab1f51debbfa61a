/**
 * What the kit's HAProxy containers (the Docker filter, the bridges' queue) share: where the
 * official haproxy image reads its configuration (the e2e stand-in too), and how it runs.
 */
import type { Settings } from "../settings";
import type { ContainerSpec } from "./container-spec";
import { healthcheck } from "./healthcheck";
import { HAPROXY_PATHS } from "./addresses";

/**
 * In the foreground on its read-only config. The image has no HTTP client, so the health check is
 * HAProxy's own config check; HAProxy exits on a fatal error and the restart policy brings it
 * back. It starts at once: a short start period.
 */
export function haproxyRun(s: Settings): Pick<ContainerSpec, "command" | "healthcheck" | "stop" | "restart"> {
  return {
    command: ["haproxy", "-db", "-f", HAPROXY_PATHS.config],
    healthcheck: healthcheck(s, ["CMD", "haproxy", "-c", "-q", "-f", HAPROXY_PATHS.config], { startPeriodSeconds: 10, retries: 3 }),
    stop: { signal: "SIGTERM", graceSeconds: 5 },
    restart: "unless-stopped",
  };
}
