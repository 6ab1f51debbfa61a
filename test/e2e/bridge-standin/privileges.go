package main

// matrix-qq's image starts as root, chowns /data to $UID:$GID (default
// 1337:1337) and runs the bridge as that user (its docker-run.sh with su-exec).
// matrix-wechat's image runs the bridge as root. The stand-in does the same so
// the kit's file ownership is exercised as upstream would exercise it.

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

func envID(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// dropPrivileges chowns dataDir recursively and switches to uid:gid. It does
// nothing unless running as root.
func dropPrivileges(dataDir string, uid, gid int, log *Logger) error {
	if os.Getuid() != 0 {
		return nil
	}
	err := filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		log.Warn("Failed to chown the data directory (continuing, as upstream's docker-run.sh would)", F{"dir": dataDir, "error": err})
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return err
	}
	if err := syscall.Setgid(gid); err != nil {
		return err
	}
	if err := syscall.Setuid(uid); err != nil {
		return err
	}
	log.Info("Running as the image's bridge user, like upstream's su-exec", F{"uid": uid, "gid": gid, "data_dir": dataDir})
	return nil
}
