package main

// The database: proves the kit's per-bridge database and credentials work.

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	_ "github.com/lib/pq"
)

// redactURI hides the password in a postgres:// URI for logs.
func redactURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "(unparsable URI)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	return u.String()
}

// OpenDatabase connects once, as the real bridges do at start: an unreachable database ends
// the process (the caller exits as each real bridge does), and the container's restart policy
// starts it again. Then it creates the stand-in's tables and records its start.
func OpenDatabase(ctx context.Context, uri string, kind Kind, log *Logger) (*sql.DB, error) {
	db, err := sql.Open("postgres", uri)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = db.PingContext(pctx)
	cancel()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS standin_state (k text PRIMARY KEY, v text)`,
		kind.userSchema(),
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("%s: %w", s, err)
		}
	}
	upsert := `INSERT INTO standin_state (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v`
	for k, v := range map[string]string{
		"kind":          string(kind),
		"stands_in_for": kind.Upstream(),
		"last_start":    time.Now().UTC().Format(time.RFC3339),
	} {
		if _, err := db.ExecContext(ctx, upsert, k, v); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("writing standin_state: %w", err)
		}
	}
	return db, nil
}
