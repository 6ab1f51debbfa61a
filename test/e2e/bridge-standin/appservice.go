package main

// The server side: the app service API Synapse pushes to, and the bot's
// handful of commands.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// Event is the part of a Matrix event the stand-in looks at.
type Event struct {
	Type     string          `json:"type"`
	EventID  string          `json:"event_id"`
	RoomID   string          `json:"room_id"`
	Sender   string          `json:"sender"`
	StateKey *string         `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

type transaction struct {
	Events    []Event           `json:"events"`
	Ephemeral []json.RawMessage `json:"ephemeral"`
	// Synapse's unstable name for ephemeral events (MSC2409).
	EphemeralMSC []json.RawMessage `json:"de.sorunome.msc2409.ephemeral"`
}

// Bridge is one running stand-in.
type Bridge struct {
	Cfg    *Config
	Log    *Logger
	HS     *Homeserver
	Agents *AgentListener // WeChat only

	ready atomic.Bool
	// wedged (test only, SIGUSR1): the process lives and /_matrix/mau/live answers, but
	// commands are ignored, as the real WeChat bridge was seen to do (issue 10).
	wedged atomic.Bool
	// fakeLogin (test only, SIGUSR2 toggles it): `ping` answers as if logged in, so a test can
	// play a bridge that loses its login (the watchdog must notice the change).
	fakeLogin atomic.Bool

	txnMu   sync.Mutex
	seenTxn map[string]bool
	txnRing []string

	events chan Event
}

func NewBridge(cfg *Config, log *Logger) *Bridge {
	b := &Bridge{
		Cfg:     cfg,
		Log:     log,
		HS:      NewHomeserver(cfg),
		seenTxn: map[string]bool{},
		events:  make(chan Event, 1024),
	}
	if cfg.Kind == KindWechat {
		b.Agents = NewAgentListener(cfg.ListenSecret, log)
	}
	return b
}

// SetReady flips /_matrix/mau/ready to 200 (mautrix does so once started).
func (b *Bridge) SetReady() { b.ready.Store(true) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func matrixErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"errcode": code, "error": msg})
}

// checkToken enforces the hs_token like mautrix: matrix-qq's mautrix v0.23.0
// accepts only "Authorization: Bearer", matrix-wechat's v0.16.2 also the legacy
// ?access_token= query parameter. Both answer 403 M_UNKNOWN_TOKEN.
func (b *Bridge) checkToken(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	var token string
	switch {
	case strings.HasPrefix(auth, "Bearer "):
		token = auth[len("Bearer "):]
	case b.Cfg.Kind == KindWechat && r.URL.Query().Get("access_token") != "":
		token = r.URL.Query().Get("access_token")
	default:
		b.Log.Warn("Refused homeserver request without access token", F{"path": r.URL.Path, "remote": r.RemoteAddr})
		matrixErr(w, http.StatusForbidden, "M_UNKNOWN_TOKEN", "Missing access token")
		return false
	}
	if token != b.Cfg.HSToken {
		b.Log.Warn("Refused homeserver request with wrong hs_token", F{"path": r.URL.Path, "remote": r.RemoteAddr})
		matrixErr(w, http.StatusForbidden, "M_UNKNOWN_TOKEN", "Incorrect access token")
		return false
	}
	return true
}

// Handler serves the app service API.
func (b *Bridge) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /_matrix/app/v1/transactions/{txnID}", b.putTransaction)
	mux.HandleFunc("POST /_matrix/app/v1/ping", b.postPing)
	mux.HandleFunc("GET /_matrix/app/v1/users/{userID}", b.notFoundQuery)
	mux.HandleFunc("GET /_matrix/app/v1/rooms/{alias}", b.notFoundQuery)
	if b.Cfg.Kind == KindWechat {
		// mautrix-go v0.16.2 still routes the pre-v1 paths.
		mux.HandleFunc("PUT /transactions/{txnID}", b.putTransaction)
		mux.HandleFunc("GET /users/{userID}", b.notFoundQuery)
		mux.HandleFunc("GET /rooms/{alias}", b.notFoundQuery)
		mux.HandleFunc("POST /_matrix/app/unstable/fi.mau.msc2659/ping", b.postPing)
	}
	mux.HandleFunc("GET /_matrix/mau/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	mux.HandleFunc("GET /_matrix/mau/ready", func(w http.ResponseWriter, r *http.Request) {
		if b.ready.Load() {
			writeJSON(w, http.StatusOK, map[string]any{})
		} else {
			writeJSON(w, http.StatusInternalServerError, map[string]any{})
		}
	})
	return mux
}

func (b *Bridge) postPing(w http.ResponseWriter, r *http.Request) {
	if !b.checkToken(w, r) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil || len(body) == 0 || !json.Valid(body) {
		matrixErr(w, http.StatusBadRequest, "M_NOT_JSON", "Missing request body")
		return
	}
	var p struct {
		TxnID string `json:"transaction_id"`
	}
	_ = json.Unmarshal(body, &p)
	b.Log.Info("Received ping from homeserver", F{"txn_id": p.TxnID})
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (b *Bridge) notFoundQuery(w http.ResponseWriter, r *http.Request) {
	if !b.checkToken(w, r) {
		return
	}
	b.Log.Info("Homeserver query answered not found (stand-in bridges no users or rooms)", F{"path": r.URL.Path})
	matrixErr(w, http.StatusNotFound, "M_NOT_FOUND", "Not found")
}

// markTxn records a transaction id; false when it was seen already.
func (b *Bridge) markTxn(id string) bool {
	b.txnMu.Lock()
	defer b.txnMu.Unlock()
	if b.seenTxn[id] {
		return false
	}
	b.seenTxn[id] = true
	b.txnRing = append(b.txnRing, id)
	if len(b.txnRing) > 128 {
		delete(b.seenTxn, b.txnRing[0])
		b.txnRing = b.txnRing[1:]
	}
	return true
}

func (b *Bridge) putTransaction(w http.ResponseWriter, r *http.Request) {
	if !b.checkToken(w, r) {
		return
	}
	txnID := r.PathValue("txnID")
	if txnID == "" {
		matrixErr(w, http.StatusBadRequest, "M_UNKNOWN", "Missing transaction ID")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil || len(body) == 0 {
		matrixErr(w, http.StatusBadRequest, "M_NOT_JSON", "Missing request body")
		return
	}
	b.txnMu.Lock()
	dup := b.seenTxn[txnID]
	b.txnMu.Unlock()
	if dup {
		b.Log.Info("Ignoring duplicate transaction", F{"txn_id": txnID})
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	var txn transaction
	if err := json.Unmarshal(body, &txn); err != nil {
		b.Log.Error("Failed to parse transaction content", F{"txn_id": txnID, "error": err})
		matrixErr(w, http.StatusBadRequest, "M_BAD_JSON", "Failed to parse body JSON")
		return
	}
	if !b.markTxn(txnID) {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	for _, raw := range append(txn.Ephemeral, txn.EphemeralMSC...) {
		var e struct {
			Type   string `json:"type"`
			RoomID string `json:"room_id"`
		}
		_ = json.Unmarshal(raw, &e)
		b.Log.Info("Received ephemeral event", F{"txn_id": txnID, "type": e.Type, "room_id": e.RoomID})
	}
	for _, ev := range txn.Events {
		b.Log.Info("Received event", F{"txn_id": txnID, "type": ev.Type, "room_id": ev.RoomID, "sender": ev.Sender, "event_id": ev.EventID})
		b.events <- ev
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// RunWorker handles queued events one at a time until ctx ends.
func (b *Bridge) RunWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-b.events:
			b.HandleEvent(ctx, ev)
		}
	}
}

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

// HandleEvent reacts to one event.
func (b *Bridge) HandleEvent(ctx context.Context, ev Event) {
	bot := b.Cfg.BotUserID()
	switch ev.Type {
	case "m.room.member":
		if ev.StateKey == nil || *ev.StateKey != bot || ev.Sender == bot {
			return
		}
		var c struct {
			Membership string `json:"membership"`
		}
		_ = json.Unmarshal(ev.Content, &c)
		if c.Membership != "invite" {
			return
		}
		if b.PermissionLevel(ev.Sender) < levels["commands"] {
			reason := "You don't have permission to send commands to this bridge"
			b.Log.Warn("Rejecting invite from user without permission", F{"room_id": ev.RoomID, "sender": ev.Sender})
			if err := b.HS.Leave(ctx, ev.RoomID, reason); err != nil {
				b.Log.Error("Failed to reject invite", F{"room_id": ev.RoomID, "error": err})
			}
			return
		}
		if err := b.HS.Join(ctx, ev.RoomID); err != nil {
			b.Log.Error("Failed to join room after invite", F{"room_id": ev.RoomID, "sender": ev.Sender, "error": err})
			return
		}
		b.Log.Info("Joined room after invite", F{"room_id": ev.RoomID, "sender": ev.Sender})
		if greeting := b.Greeting(); greeting != "" {
			// Seen from the real matrix-wechat 0.2.4 in a new direct chat, before any command.
			if _, err := b.HS.SendNotice(ctx, ev.RoomID, greeting); err != nil {
				b.Log.Error("Failed to send the greeting", F{"room_id": ev.RoomID, "error": err})
			}
		}
	case "m.room.message":
		if ev.Sender == bot || b.isGhost(ev.Sender) {
			return
		}
		if b.wedged.Load() {
			b.Log.Info("Wedged (test): ignoring a message", F{"room_id": ev.RoomID, "sender": ev.Sender})
			return
		}
		var c struct {
			MsgType string `json:"msgtype"`
			Body    string `json:"body"`
		}
		_ = json.Unmarshal(ev.Content, &c)
		if c.MsgType == "m.notice" {
			return
		}
		cmd, prefixed := b.parseCommand(c.Body)
		if cmd == "" {
			return
		}
		reply, known := b.commandReply(cmd)
		if !known {
			if !prefixed {
				return
			}
			reply = "Unknown command, use the `help` command for help."
		}
		if b.PermissionLevel(ev.Sender) < levels["commands"] {
			b.Log.Warn("Ignoring command from user without permission", F{"room_id": ev.RoomID, "sender": ev.Sender, "command": cmd})
			return
		}
		b.Log.Info("Handling command", F{"room_id": ev.RoomID, "sender": ev.Sender, "command": cmd})
		id, err := b.HS.SendNotice(ctx, ev.RoomID, reply)
		if err != nil {
			b.Log.Error("Failed to send command reply", F{"room_id": ev.RoomID, "command": cmd, "error": err})
			return
		}
		b.Log.Info("Sent command reply", F{"room_id": ev.RoomID, "command": cmd, "event_id": id})
	}
}

// parseCommand returns the lower-cased command word and whether the message
// carried the command prefix ("!qq help" or just "help").
func (b *Bridge) parseCommand(body string) (string, bool) {
	body = strings.TrimSpace(body)
	prefixed := false
	if p := b.Cfg.CommandPrefix; p != "" && (body == p || strings.HasPrefix(body, p+" ")) {
		body = strings.TrimSpace(body[len(p):])
		prefixed = true
	}
	fields := strings.Fields(body)
	if len(fields) == 0 {
		return "", prefixed
	}
	return strings.ToLower(fields[0]), prefixed
}

// Greeting is what the bot says on joining a direct chat: the real WeChat bot (old
// mautrix layout) greets, the real QQ bot (bridgev2) was not seen to.
func (b *Bridge) Greeting() string {
	if b.Cfg.Kind == KindWechat {
		return "Use `help` for help or `login` to log in."
	}
	return ""
}

// HelpHeader starts every help answer, so nobody mistakes it for the real bridge's.
func (b *Bridge) HelpHeader() string {
	return fmt.Sprintf("matrix-%s stand-in bridge (not the real bridge): available commands:", b.Cfg.Kind)
}

func (b *Bridge) commandReply(cmd string) (string, bool) {
	k, p := b.Cfg.Kind, b.Cfg.CommandPrefix
	switch cmd {
	case "help":
		return b.HelpHeader() + "\n" +
			fmt.Sprintf("* `help` (or `%s help`): show this list\n", p) +
			fmt.Sprintf("* `login`: log in to %s (this stand-in cannot)\n", k.Network()) +
			"* `logout`: log out\n" +
			"* `ping`: show whether you are logged in\n" +
			fmt.Sprintf("This is the matrix kit's end-to-end test stand-in for %s; it bridges no messages.", k.Upstream()), true
	case "login":
		msg := fmt.Sprintf("This is a stand-in for %s used by the kit's end-to-end test: it cannot log in to %s. Deploy the real bridge image to log in.", k.Upstream(), k.Network())
		if k == KindWechat {
			msg += fmt.Sprintf(" (The real bridge logs in through a matrix-wechat-agent connected to bridge.listen_address; agents connected to this stand-in: %d.)", b.Agents.Count())
		}
		return msg, true
	case "logout":
		return fmt.Sprintf("You're not logged in to %s (stand-in bridge: it never logs in).", k.Network()), true
	case "ping":
		if b.fakeLogin.Load() {
			return fmt.Sprintf("You're logged in to %s as stand-in-user (a test's pretence: SIGUSR2; the stand-in never logs in).", k.Network()), true
		}
		msg := fmt.Sprintf("You're not logged in to %s (stand-in bridge: it never logs in).", k.Network())
		if k == KindWechat {
			msg += fmt.Sprintf(" Agents connected: %d.", b.Agents.Count())
		}
		return msg, true
	}
	return "", false
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

// toggleLoginOn flips the pretended login on each `sig` (the e2e test's `docker kill -s USR2`).
// Test only, like wedgeOn.
func (b *Bridge) toggleLoginOn(ctx context.Context, ch <-chan os.Signal) {
	go func() {
		for {
			select {
			case sig := <-ch:
				now := !b.fakeLogin.Load()
				b.fakeLogin.Store(now)
				b.Log.Warn("Pretended login toggled by signal (test only)", F{"signal": sig.String(), "logged_in": now})
			case <-ctx.Done():
				return
			}
		}
	}()
}
