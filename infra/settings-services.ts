/**
 * The settings of three of the kit's own services: the bridges' queue, the upkeep job and the
 * backups. Part of `Settings` (settings.ts re-exports them); kept apart only to keep that file short.
 */
/**
 * The bridges' queue to Synapse (render/bridge-queue.ts): an HAProxy between the bridges and
 * Synapse that lets `inFlight` of their requests into Synapse at once, the rest waiting in order,
 * so the owner's own requests are not served behind a crowd of bridged ones at the evening peak.
 */
export type BridgeQueueSettings =
  | { enabled: false }
  | {
      enabled: true;
      inFlight: number;
      /** The VPS's CPU busy share at or above which `inFlight` holds; below it the bridges go in freely. Null: the CPU is not asked. */
      cpuBusyThreshold: number | null;
      /** `inFlight` holds only this many seconds after a request of the owner's clients (/sync aside). Null: the owner is not asked. */
      ownerActiveSeconds: number | null;
      /** 127.0.0.1 port where host nginx tells the queue of the owner's requests (with `ownerActiveSeconds`). */
      hostPort: number;
      image: string;
      memoryLimitBytes: number;
    };

export type UpkeepSettings =
  | { enabled: false }
  | {
      enabled: true;
      /** Cron schedule (five fields, host time) of the maintenance job. */
      schedule: string;
      memoryLimitBytes: number;
      /** Events in bridged rooms older than this are purged; null keeps all history. */
      bridgedRoomHistoryLifetime: string | null;
      stateCompression: boolean;
    };

export type BackupSettings =
  | { enabled: false }
  | {
      enabled: true;
      /** The restic repository (restic's -r), as the VPS reaches it. */
      repository: string;
      /** Cron schedule (five fields, host time) of the nightly backup. */
      schedule: string;
      /** Snapshots kept by `restic forget` after each scheduled backup. */
      keep: { daily: number; weekly: number; monthly: number };
      includeRemoteMedia: boolean;
      /** `pulumi destroy` backs up first and stops, changing nothing, when that fails. */
      beforeDestroy: boolean;
      /** A changed Synapse, PostgreSQL or bridge image is backed up before its container is replaced. */
      beforeUpgrade: boolean;
    };
