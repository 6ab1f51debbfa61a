package main

// What the stand-in's tests share: a MOCK homeserver (an httptest server that answers the
// client-server calls the stand-in makes with fixed bodies and records them; not Synapse: the
// e2e runs the stand-in against the real one), a bridge wired to it, transactions and events.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedWriter lets tests read logs written from other goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type hsRequest struct {
	Method, Path, UserID, Auth string
	Body                       map[string]any
}

// fakeHomeserver records the client-server requests the bridge makes.
type fakeHomeserver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []hsRequest
	// versionsForbidden: /versions answers M_FORBIDDEN until the bot registers.
	versionsForbidden bool
}

func newFakeHomeserver(t *testing.T) *fakeHomeserver {
	f := &fakeHomeserver{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		data, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(data, &body)
		f.mu.Lock()
		f.requests = append(f.requests, hsRequest{r.Method, r.URL.EscapedPath(), r.URL.Query().Get("user_id"), r.Header.Get("Authorization"), body})
		forbidden := f.versionsForbidden
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/_matrix/client/versions" && forbidden:
			w.WriteHeader(403)
			io.WriteString(w, `{"errcode":"M_FORBIDDEN","error":"Application service has not registered this user (@qqbot:example.org)"}`)
		case r.URL.Path == "/_matrix/client/versions":
			io.WriteString(w, `{"versions":["v1.11"]}`)
		case r.URL.Path == "/_matrix/client/v3/register":
			f.mu.Lock()
			f.versionsForbidden = false
			f.mu.Unlock()
			io.WriteString(w, `{"user_id":"@qqbot:example.org"}`)
		case r.URL.Path == "/_matrix/client/v3/account/whoami":
			io.WriteString(w, `{"user_id":"`+r.URL.Query().Get("user_id")+`"}`)
		case strings.HasPrefix(r.URL.Path, "/_matrix/client/v1/appservice/"):
			io.WriteString(w, `{"duration_ms":3}`)
		case strings.Contains(r.URL.Path, "/send/"):
			io.WriteString(w, `{"event_id":"$reply"}`)
		case strings.HasSuffix(r.URL.Path, "/joined_members"):
			// "!group..." rooms have a third member; every other room is the user and the bot.
			members := `"@owner:example.org":{},"@` + strings.Split(r.URL.Query().Get("user_id"), ":")[0][1:] + `:example.org":{}`
			if strings.Contains(r.URL.Path, "group") {
				members += `,"@kit-watchdog:example.org":{}`
			}
			io.WriteString(w, `{"joined":{`+members+`}}`)
		default:
			io.WriteString(w, `{}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeHomeserver) find(method, pathPart string) []hsRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []hsRequest
	for _, r := range f.requests {
		if r.Method == method && strings.Contains(r.Path, pathPart) {
			out = append(out, r)
		}
	}
	return out
}

func testBridge(t *testing.T, kind Kind) (*Bridge, *fakeHomeserver, *lockedWriter) {
	t.Helper()
	hs := newFakeHomeserver(t)
	doc := qqConfig
	if kind == KindWechat {
		doc = wechatConfig
	}
	doc = strings.Replace(doc, "http://mx-synapse:8008", hs.URL, 1)
	cfg, err := ParseConfig(kind, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedWriter{w: &strings.Builder{}}
	log := NewLogger(logs, kind)
	b := NewBridge(cfg, log, NewUsers(newMemRows(kind), log))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go b.RunWorker(ctx)
	return b, hs, logs
}

func putTxn(b *Bridge, path, auth string, events ...map[string]any) *httptest.ResponseRecorder {
	data, _ := json.Marshal(map[string]any{"events": events})
	req := httptest.NewRequest(http.MethodPut, path, strings.NewReader(string(data)))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, req)
	return rec
}

func message(sender, body string) map[string]any {
	return messageIn("!dm:example.org", sender, body)
}

func messageIn(room, sender, body string) map[string]any {
	return map[string]any{"type": "m.room.message", "room_id": room, "sender": sender, "event_id": "$" + body,
		"content": map[string]any{"msgtype": "m.text", "body": body}}
}

func invite(room, sender, bot string, direct bool) map[string]any {
	return map[string]any{"type": "m.room.member", "room_id": room, "sender": sender, "state_key": bot,
		"content": map[string]any{"membership": "invite", "is_direct": direct}}
}

// sentBodies is what the bot sent into a room, in order, as "msgtype: body".
func sentBodies(hs *fakeHomeserver, room string) []string {
	var out []string
	for _, r := range hs.find("PUT", "/rooms/"+strings.ReplaceAll(room, "!", "%21")+"/send/m.room.message/") {
		out = append(out, r.Body["msgtype"].(string)+": "+r.Body["body"].(string))
	}
	return out
}
