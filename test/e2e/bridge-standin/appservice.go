package main

// The server side: the app service API Synapse pushes to, and the bot's
// handful of commands.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
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
	// commands are ignored, as the real WeChat bridge was seen to do.
	wedged atomic.Bool
	// fakeLogin (test only, SIGUSR2 toggles it): the status command answers as if logged in, so
	// a test can play a bridge that loses its login (the watchdog must notice the change).
	fakeLogin atomic.Bool
	// hadLogin: the pretended login was on since the start; QQ then lists it as lost when it goes off.
	hadLogin atomic.Bool
	// scanned (test only): SIGUSR2 during QQ's QR login plays the scan that ends it.
	scanned   chan struct{}
	qrWaiting atomic.Bool

	Users *Users

	txnMu   sync.Mutex
	seenTxn map[string]bool
	txnRing []string

	events chan Event
}

func NewBridge(cfg *Config, log *Logger, users *Users) *Bridge {
	b := &Bridge{
		Cfg:     cfg,
		Log:     log,
		HS:      NewHomeserver(cfg),
		Users:   users,
		seenTxn: map[string]bool{},
		events:  make(chan Event, 1024),
		scanned: make(chan struct{}, 1),
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
