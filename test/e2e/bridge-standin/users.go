package main

// Users and their management rooms, kept as the real bridges keep them (shared/real-bridges/
// OBSERVED.md and the bridges' sources):
//   - matrix-wechat 0.2.4: a `user` table with `uin TEXT UNIQUE`; a user who is not logged in
//     is saved with uin ''. The first Matrix user any event comes from gets the row; every later
//     one logs `Failed to insert <mxid>: pq: duplicate key value violates unique constraint
//     "user_uin_key"` and lives in memory only until the bridge restarts (its management room
//     is then forgotten, and its updates match no row).
//   - matrix-qq 0.2.1 (bridgev2): one row per user, (bridge_id, mxid) the key: no such limit.
// Users are loaded (and inserted) on the first event from them after each start, as the real
// ones are; none is preloaded.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/lib/pq"
)

// User is what the stand-in keeps of one Matrix user.
type User struct {
	MXID           string
	ManagementRoom string
	// Saved: the user has a row (WeChat: only the first user while nobody is logged in).
	Saved bool
}

type Users struct {
	rows userRows
	log  *Logger
	mu   sync.Mutex
	mem  map[string]*User
}

// userRows is where users are saved: the bridge's PostgreSQL database (sqlRows), or, in the Go
// unit tests only, memRows, which keeps the same rules without a database.
type userRows interface {
	load(ctx context.Context, mxid string) (room string, found bool, err error)
	insert(ctx context.Context, mxid string) error
	setRoom(ctx context.Context, mxid, room string) error
}

func NewUsers(rows userRows, log *Logger) *Users {
	return &Users{rows: rows, log: log, mem: map[string]*User{}}
}

// Schema is each bridge's user table, in the shape the rules above need.
func (k Kind) userSchema() string {
	if k == KindWechat {
		return `CREATE TABLE IF NOT EXISTS "user" (mxid TEXT PRIMARY KEY, uin TEXT UNIQUE, management_room TEXT NOT NULL DEFAULT '')`
	}
	return `CREATE TABLE IF NOT EXISTS "user" (bridge_id TEXT NOT NULL, mxid TEXT NOT NULL, management_room TEXT NOT NULL DEFAULT '', PRIMARY KEY (bridge_id, mxid))`
}

type sqlRows struct {
	db   *sql.DB
	kind Kind
}

func (r sqlRows) load(ctx context.Context, mxid string) (string, bool, error) {
	var room string
	err := r.db.QueryRowContext(ctx, `SELECT management_room FROM "user" WHERE mxid = $1`, mxid).Scan(&room)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return room, err == nil, err
}

func (r sqlRows) insert(ctx context.Context, mxid string) error {
	if r.kind == KindWechat {
		_, err := r.db.ExecContext(ctx, `INSERT INTO "user" (mxid, uin, management_room) VALUES ($1, '', '')`, mxid)
		return err
	}
	_, err := r.db.ExecContext(ctx, `INSERT INTO "user" (bridge_id, mxid, management_room) VALUES ('qq', $1, '')`, mxid)
	return err
}

func (r sqlRows) setRoom(ctx context.Context, mxid, room string) error {
	_, err := r.db.ExecContext(ctx, `UPDATE "user" SET management_room = $1 WHERE mxid = $2`, room, mxid)
	return err
}

// Get loads a user, inserting a row on first sight (which may fail for WeChat, see above).
func (u *Users) Get(ctx context.Context, mxid string) *User {
	u.mu.Lock()
	defer u.mu.Unlock()
	if user, ok := u.mem[mxid]; ok {
		return user
	}
	user := &User{MXID: mxid}
	u.mem[mxid] = user
	room, found, err := u.rows.load(ctx, mxid)
	switch {
	case err != nil:
		u.log.Error("Failed to load user", F{"mxid": mxid, "error": err})
	case found:
		user.ManagementRoom, user.Saved = room, true
	default:
		if err := u.rows.insert(ctx, mxid); err != nil {
			u.log.Warn(fmt.Sprintf("Failed to insert %s: %v", mxid, pqText(err)), nil)
		} else {
			user.Saved = true
		}
	}
	return user
}

// SetManagementRoom keeps the room in memory and in the user's row, if it has one.
func (u *Users) SetManagementRoom(ctx context.Context, user *User, room string) {
	u.mu.Lock()
	user.ManagementRoom = room
	u.mu.Unlock()
	if err := u.rows.setRoom(ctx, user.MXID, room); err != nil {
		u.log.Error("Failed to save the management room", F{"mxid": user.MXID, "error": err})
	}
}

// pqText is lib/pq's error as the real bridge logs it ("pq: duplicate key value ...").
func pqText(err error) string {
	var pe *pq.Error
	if errors.As(err, &pe) {
		return "pq: " + pe.Message
	}
	return err.Error()
}
