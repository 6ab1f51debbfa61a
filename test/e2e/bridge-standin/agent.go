package main

// WeChat only: the listener matrix-wechat 0.2.4 opens on bridge.listen_address
// for its agent (matrix-wechat-agent, on a Windows/wine host). Any path; the
// Authorization header must be "Basic " followed by listen_secret verbatim
// (the raw secret, NOT base64 of user:password). Refusals are 403 with the
// real bridge's JSON ({"code","message"}).
//
// The real agent protocol ({id, mxid, type: <int>, data}) is not implemented:
// the stand-in only answers {"id":N,"type":"ping"} with {"id":N,"type":"pong"}
// (a stand-in extension the e2e test uses to prove the socket works both ways
// through nginx) and logs anything else.

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

type AgentListener struct {
	secret   string
	log      *Logger
	upgrader websocket.Upgrader

	mu    sync.Mutex
	conns map[*websocket.Conn]string
}

func NewAgentListener(secret string, log *Logger) *AgentListener {
	return &AgentListener{secret: secret, log: log, conns: map[*websocket.Conn]string{}}
}

// Count is the number of connected agents.
func (a *AgentListener) Count() int {
	if a == nil {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.conns)
}

func agentRefusal(w http.ResponseWriter, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	data, _ := json.Marshal(map[string]string{"code": code, "message": message})
	_, _ = w.Write(data)
}

func (a *AgentListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	remote := r.RemoteAddr
	if f := r.Header.Get("X-Forwarded-For"); f != "" {
		remote += " (forwarded for " + f + ")"
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "Basic ") {
		a.log.Warn("Refused agent connection: missing authorization header", F{"remote": remote, "path": r.URL.Path})
		agentRefusal(w, "M_MISSING_TOKEN", "Missing authorization header")
		return
	}
	if auth[len("Basic "):] != a.secret {
		a.log.Warn("Refused agent connection: unknown authorization token", F{"remote": remote, "path": r.URL.Path})
		agentRefusal(w, "M_UNKNOWN_TOKEN", "Unknown authorization token")
		return
	}
	conn, err := a.upgrader.Upgrade(w, r, nil)
	if err != nil {
		a.log.Warn("Failed to upgrade websocket request", F{"remote": remote, "error": err})
		return
	}
	a.mu.Lock()
	a.conns[conn] = remote
	a.mu.Unlock()
	// The real bridge's line (OBSERVED.md): "Agent connected from <addr>".
	a.log.Info("Agent connected from "+remote, F{"path": r.URL.Path})
	defer func() {
		a.mu.Lock()
		delete(a.conns, conn)
		a.mu.Unlock()
		_ = conn.Close()
		a.log.Info("agent disconnected", F{"remote": remote})
	}()
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				a.log.Warn("Error reading from agent websocket", F{"remote": remote, "error": err})
			}
			return
		}
		var msg struct {
			ID   json.RawMessage `json:"id"`
			Type json.RawMessage `json:"type"`
		}
		if kind != websocket.TextMessage || json.Unmarshal(data, &msg) != nil {
			a.log.Warn("Ignoring non-JSON agent message", F{"remote": remote, "bytes": len(data)})
			continue
		}
		if string(msg.Type) != `"ping"` {
			a.log.Info("Ignoring agent message (the stand-in speaks no agent protocol)", F{"remote": remote, "type": string(msg.Type)})
			continue
		}
		id := msg.ID
		if len(id) == 0 {
			id = json.RawMessage("null")
		}
		a.log.Info("Agent ping", F{"remote": remote, "id": string(id)})
		reply, _ := json.Marshal(map[string]any{"id": id, "type": "pong"})
		if err := conn.WriteMessage(websocket.TextMessage, reply); err != nil {
			a.log.Warn("Failed to answer agent ping", F{"remote": remote, "error": err})
			return
		}
	}
}

// CloseAll says goodbye to every agent (on shutdown).
func (a *AgentListener) CloseAll() {
	if a == nil {
		return
	}
	a.mu.Lock()
	conns := make([]*websocket.Conn, 0, len(a.conns))
	for c := range a.conns {
		conns = append(conns, c)
	}
	a.mu.Unlock()
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "")
	for _, c := range conns {
		_ = c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(3*time.Second))
		_ = c.Close()
	}
}
