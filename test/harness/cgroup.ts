/** A container's cgroup on this machine (the VPS of the e2e and the benchmarks is local): where it is, and its counters. */
import * as fs from "node:fs";

/** A container's cgroup v2 directories, under systemd's or cgroupfs's driver. */
export const v2Dirs = (id: string) => [`/sys/fs/cgroup/system.slice/docker-${id}.scope`, `/sys/fs/cgroup/docker/${id}`];

/** The first of `dirs` that holds `file`. */
export const dirWith = (dirs: string[], file: string) => dirs.find((d) => fs.existsSync(`${d}/${file}`));

/** `key`'s value in a "key value" stat file (memory.stat, cpu.stat); 0 when it is not there. */
export const cgroupStat = (file: string, key: string) => Number(new RegExp(`^${key} (\\d+)$`, "m").exec(fs.readFileSync(file, "utf8"))?.[1] ?? 0);
