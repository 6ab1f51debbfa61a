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

// OpenDatabase connects with retries for up to `patience`, then creates the
// stand-in's table and records its start.
func OpenDatabase(ctx context.Context, uri string, kind Kind, log *Logger, patience time.Duration) (*sql.DB, error) {
	db, err := sql.Open("postgres", uri)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	deadline := time.Now().Add(patience)
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = db.PingContext(pctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			_ = db.Close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("gave up after %d attempts in %s: %w", attempt, patience, err)
		}
		log.Warn("Database not reachable yet, retrying in 2 seconds", F{"uri": redactURI(uri), "attempt": attempt, "error": err})
		select {
		case <-ctx.Done():
			_ = db.Close()
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS standin_state (k text PRIMARY KEY, v text)`,
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
