package main

// memRows: the user table without PostgreSQL, for the Go unit tests only (the e2e runs the
// stand-in on the real database). It keeps the rules that matter here: WeChat's `uin` UNIQUE
// with '' for a user not logged in (a second row fails with lib/pq's text), QQ's one row per user.

import (
	"context"
	"errors"
	"sync"
)

type memRows struct {
	kind Kind
	mu   sync.Mutex
	room map[string]string
}

func newMemRows(kind Kind) *memRows { return &memRows{kind: kind, room: map[string]string{}} }

func (m *memRows) load(_ context.Context, mxid string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.room[mxid]
	return r, ok, nil
}

func (m *memRows) insert(_ context.Context, mxid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kind == KindWechat && len(m.room) > 0 {
		return errors.New(`pq: duplicate key value violates unique constraint "user_uin_key"`)
	}
	m.room[mxid] = ""
	return nil
}

func (m *memRows) setRoom(_ context.Context, mxid, room string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.room[mxid]; ok {
		m.room[mxid] = room
	}
	return nil
}
