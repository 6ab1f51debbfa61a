/** docker.Container inputs from a ContainerSpec: the one place those inputs are assembled. */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { dockerCpus } from "../config/cpu-budget";
import type { ContainerSpec } from "../render/container-spec";
import { volumeName, type Settings } from "../settings";

const MB = 1024 * 1024;

export interface ContainerExtras {
  command?: string[];
  /** Digests of the files the container reads: a change replaces the container. */
  configDigests?: pulumi.Input<string>[];
  /**
   * The PostgreSQL container this one uses. As an input (a label), not only an ordering, it
   * makes the engine replace this container first when PostgreSQL is replaced: Synapse and the
   * bridges stop before their database does (a memory change replaced PostgreSQL about 11 s
   * before Synapse, which lost its database mid-run).
   */
  databaseContainer?: docker.Container;
  stack: string;
}

export function containerArgs(spec: ContainerSpec, x: ContainerExtras): docker.ContainerArgs {
  // Plain values only (EnvVar has no secret): secrets reach a container as files.
  const envs = spec.env.map((e) => `${e.name}=${e.value}`);
  return {
    name: spec.name,
    image: spec.image,
    ...(spec.entrypoint ? { entrypoints: spec.entrypoint } : {}),
    ...(x.command ? { command: x.command } : {}),
    restart: spec.restart,
    // docker.Container's memory is in MB; no swap on top of it (memorySwap = memory).
    memory: Math.round(spec.memoryBytes / MB),
    memorySwap: Math.round(spec.memoryBytes / MB),
    // A cap (throttled above it, never killed) and a weight for when the CPU is contended.
    cpus: dockerCpus(spec.cpu.cpus),
    cpuShares: spec.cpu.shares,
    envs,
    ...(spec.user ? { user: spec.user } : {}),
    networksAdvanced: [spec.network, ...(spec.extraNetworks ?? [])].map((name) => ({ name, aliases: [spec.name] })),
    ports: spec.ports.map((p) => ({ internal: p.internal, external: p.external, ip: p.ip, protocol: "tcp" })),
    volumes: spec.volumes.map((v) => ({
      containerPath: v.containerPath,
      ...(v.volumeName ? { volumeName: v.volumeName } : {}),
      ...(v.hostPath ? { hostPath: v.hostPath } : {}),
      readOnly: v.readOnly,
    })),
    // startInterval only when the stack says the engine takes it (render/healthcheck.ts).
    healthcheck: spec.healthcheck,
    // Bounded logs: the default json-file driver grows without limit on a 25 GB disk.
    logDriver: "json-file",
    logOpts: { "max-size": "10m", "max-file": "3" },
    labels: [
      { label: "kit.matrix/stack", value: x.stack },
      { label: "kit.matrix/service", value: spec.service },
      ...(x.configDigests && x.configDigests.length > 0
        ? // A digest reveals nothing of the secrets in the file: not secret, so diffs show it.
          [{ label: "kit.matrix/config-sha256", value: pulumi.unsecret(pulumi.all(x.configDigests).apply((d) => d.join(","))) }]
        : []),
      ...(x.databaseContainer ? [{ label: "kit.matrix/database-container", value: x.databaseContainer.id }] : []),
    ],
    stopSignal: spec.stop.signal,
    // Engine side (`docker stop`, engine shutdown) and provider side (destroy, replacement).
    stopTimeout: spec.stop.graceSeconds,
    destroyGraceSeconds: spec.stop.graceSeconds,
    // Not the provider's `wait`: components/upgrade.ts's awaitHealthy waits and says why it failed.
    wait: false,
    mustRun: true,
  };
}

/** Pull (or find) an image on the host; containers name the image and depend on this. */
export function remoteImage(name: string, image: string, opts: pulumi.CustomResourceOptions): docker.RemoteImage {
  return new docker.RemoteImage(name, { name: image, keepLocally: true }, opts);
}

/** A named data volume, kept on `pulumi destroy` unless matrix:volumes.retainOnDestroy is false. */
export function dataVolume(name: string, s: Settings, service: "postgres" | "synapse", opts: pulumi.CustomResourceOptions): docker.Volume {
  return new docker.Volume(
    name,
    { name: volumeName(s, service), labels: [{ label: "kit.matrix/stack", value: s.stack }] },
    { ...opts, retainOnDelete: s.volumes.retainOnDestroy },
  );
}
