package main

// What the stand-in does with each event Synapse pushes: who may command it (mautrix's
// permission levels), its own users left alone, and the test-only switches (wedge, login).

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// Permission levels of the mautrix bridges.
var levels = map[string]int{"relay": 5, "commands": 10, "user": 50, "admin": 100}

// PermissionLevel looks the user up like mautrix: exact user ID, then the
// user's server name, then "*".
func (b *Bridge) PermissionLevel(userID string) int {
	p := b.Cfg.Permissions
	if l, ok := p[userID]; ok {
		return levels[l]
	}
	if i := strings.IndexByte(userID, ':'); i >= 0 {
		if l, ok := p[userID[i+1:]]; ok {
			return levels[l]
		}
	}
	if l, ok := p["*"]; ok {
		return levels[l]
	}
	return 0
}

// isGhost: a user in the bridge's own namespace (username template).
func (b *Bridge) isGhost(userID string) bool {
	tpl := b.Cfg.UsernameTemplate
	i := strings.Index(tpl, "{{.}}")
	if i < 0 {
		return false
	}
	prefix, suffix := "@"+tpl[:i], tpl[i+len("{{.}}"):]+":"+b.Cfg.HomeserverDomain
	return strings.HasPrefix(userID, prefix) && strings.HasSuffix(userID, suffix)
}

// HandleEvent reacts to one event. As in the real bridges, any event from a user (a message,
// an invite, a membership change) loads that user first, inserting its row on first sight.
func (b *Bridge) HandleEvent(ctx context.Context, ev Event) {
	bot := b.Cfg.BotUserID()
	if ev.Sender == bot || b.isGhost(ev.Sender) {
		return
	}
	if b.wedged.Load() {
		b.Log.Info("Wedged (test): ignoring an event", F{"room_id": ev.RoomID, "sender": ev.Sender, "type": ev.Type})
		return
	}
	user := b.Users.Get(ctx, ev.Sender)
	switch ev.Type {
	case "m.room.member":
		var c struct {
			Membership string `json:"membership"`
		}
		_ = json.Unmarshal(ev.Content, &c)
		if ev.StateKey != nil && *ev.StateKey == bot && c.Membership == "invite" {
			b.handleInvite(ctx, ev, user)
		}
	case "m.room.message":
		var c struct {
			MsgType string `json:"msgtype"`
			Body    string `json:"body"`
		}
		_ = json.Unmarshal(ev.Content, &c)
		// WeChat's commands must be m.text; QQ's bridgev2 takes any text-like message.
		if c.MsgType != "m.text" && (b.Cfg.Kind == KindWechat || c.MsgType == "m.notice") {
			return
		}
		need := levels["commands"]
		if b.Cfg.Kind == KindWechat {
			need = levels["user"]
		}
		if b.PermissionLevel(ev.Sender) < need {
			return
		}
		if text := b.command(c.Body, ev.RoomID, user); text != "" {
			b.handleCommand(ctx, ev, user, text)
		}
	}
}

// wedgeOn makes the stand-in ignore every command from the first `sig` on (the e2e test's
// `docker kill -s USR1`), until the process is restarted. Test only: the real bridges have no
// such switch; it plays the wedge the watchdog must heal.
func (b *Bridge) wedgeOn(ctx context.Context, ch <-chan os.Signal) {
	go func() {
		select {
		case sig := <-ch:
			b.wedged.Store(true)
			b.Log.Warn("Wedged by signal (test only): commands are ignored from now on", F{"signal": sig.String()})
		case <-ctx.Done():
		}
	}()
}

// WedgedAtStartFile, beside config.yaml, makes the next start wedged from its first instant (test
// only, like SIGUSR1): the e2e run's bridge that has not answered since it started. A signal sent
// after a restart leaves a moment in which the new process may answer a command Synapse had
// queued for it; this file leaves none. It is removed once read, so only one start is wedged.
const WedgedAtStartFile = ".standin-wedged-at-start"

// wedgeIfAsked wedges the bridge before it listens when WedgedAtStartFile is in dir.
func (b *Bridge) wedgeIfAsked(dir string) {
	path := filepath.Join(dir, WedgedAtStartFile)
	if _, err := os.Stat(path); err != nil {
		return
	}
	b.wedged.Store(true)
	if err := os.Remove(path); err != nil {
		b.Log.Warn("Could not remove the wedge file: the next start is wedged too", F{"path": path, "error": err})
	}
	b.Log.Warn("Wedged from its start by a file (test only): commands are ignored from now on", F{"path": path})
}

// toggleLoginOn flips the pretended login on each `sig` (the e2e test's `docker kill -s USR2`).
// Test only, like wedgeOn.
func (b *Bridge) toggleLoginOn(ctx context.Context, ch <-chan os.Signal) {
	go func() {
		for {
			select {
			case sig := <-ch:
				if b.qrWaiting.Load() {
					b.Log.Warn("Pretended QR scan by signal (test only)", F{"signal": sig.String()})
					select {
					case b.scanned <- struct{}{}:
					default:
					}
					continue
				}
				now := !b.fakeLogin.Load()
				b.fakeLogin.Store(now)
				if now {
					b.hadLogin.Store(true)
				}
				b.Log.Warn("Pretended login toggled by signal (test only)", F{"signal": sig.String(), "logged_in": now})
			case <-ctx.Done():
				return
			}
		}
	}()
}
