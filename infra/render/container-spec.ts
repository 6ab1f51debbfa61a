/**
 * A container as plain data (the shape every renderer of a container returns, and the components
 * turn into docker.Container inputs), and its CPU cap and weight from the budget.
 */
import { cpuOf, type CpuService } from "../config/cpu-budget";
import type { Settings } from "../settings";
import type { Healthcheck } from "./healthcheck";

export type Service = "postgres" | "synapse" | "qq" | "wechat" | "watchdog" | "docker-filter" | "bridge-queue";

/** No secret ever goes in a container's environment: `docker inspect` shows it. */
export interface EnvVar {
  name: string;
  value: string;
}

export interface ContainerSpec {
  service: Service;
  name: string;
  image: string;
  network: string;
  /** Further networks it joins (the watchdog: the Docker filter's). */
  extraNetworks?: string[];
  /** The image's user replaced (the Docker filter runs as root: render/docker-filter.ts). */
  user?: string;
  /** Published ports: always bound to 127.0.0.1 (host nginx is the only way in). */
  ports: { internal: number; external: number; ip: "127.0.0.1" }[];
  env: EnvVar[];
  volumes: { containerPath: string; volumeName?: string; hostPath?: string; readOnly: boolean }[];
  memoryBytes: number;
  /** CPU cap (CPUs) and weight (docker cpu shares), from the CPU budget (config/cpu-budget.ts). */
  cpu: { cpus: number; shares: number };
  /** The image's entrypoint replaced (the watchdog runs its own script in the Synapse image). */
  entrypoint?: string[];
  /** The image's command replaced (PostgreSQL's server settings); unset: the image's own. */
  command?: string[];
  /** On the kit's one cadence (render/healthcheck.ts); durations in Go's canonical form (render/duration.ts). */
  healthcheck: Healthcheck;
  /**
   * How the container is stopped: on destroy, on replacement, on `docker stop` and when
   * the engine shuts down (a host reboot). Unset, the provider kills it at once
   * (grace 0), PostgreSQL included.
   */
  stop: { signal: "SIGINT" | "SIGTERM"; graceSeconds: number };
  restart: "unless-stopped";
}

/** A container's CPU cap and weight, as the budget set them. */
export function cpuSpec(s: Settings, service: CpuService): ContainerSpec["cpu"] {
  const { cpus, shares } = cpuOf(s.cpuBudget, service);
  return { cpus, shares };
}
