/**
 * "The VPS limited to one CPU for both sides": every container of the deployment is
 * confined to CPU 0 with a cpuset (`docker update --cpuset-cpus 0`, beside any --cpus cap the kit
 * sets), and so are the host's nginx, sshd and docker-proxy processes (taskset; the children sshd
 * forks for each login inherit it). The benchmark itself (the bridges' and clients' side, the
 * outside world) runs on the other CPUs, so its own work does not compete with the VPS's.
 */
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import { docker } from "../../test/harness/wait";

export const VPS_CPU = "0";

const pids = (name: string) => {
  try {
    return execFileSync("pgrep", ["-x", name], { encoding: "utf8" }).split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
};

const taskset = (cpus: string, pid: string) => {
  try {
    execFileSync("taskset", ["-a", "-p", "-c", cpus, pid], { stdio: "ignore" });
  } catch {
    // a process that has just exited
  }
};

/** The host's side of the VPS on CPU 0, this process on the others (a one-CPU machine keeps all on 0). */
export function pinHost(): void {
  const rest = os.availableParallelism() > 1 ? `1-${os.availableParallelism() - 1}` : VPS_CPU;
  for (const p of ["nginx", "sshd", "docker-proxy"].flatMap(pids)) taskset(VPS_CPU, p);
  taskset(rest, String(process.pid));
}

/** The host's processes back on every CPU, once the benchmark is done. */
export function unpinHost(): void {
  const all = `0-${os.availableParallelism() - 1}`;
  for (const p of ["nginx", "sshd", "docker-proxy"].flatMap(pids)) taskset(all, p);
}

/** The deployment's containers on CPU 0 (docker-proxy, started per published port, is pinned here too). */
export function pinContainers(containers: string[]): void {
  for (const c of containers) docker("update", "--cpuset-cpus", VPS_CPU, c);
  pinHost();
}
