package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
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
	b := NewBridge(cfg, NewLogger(logs, kind))
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
	return map[string]any{"type": "m.room.message", "room_id": "!dm:example.org", "sender": sender, "event_id": "$" + body,
		"content": map[string]any{"msgtype": "m.text", "body": body}}
}

func TestHelpSendsANotice(t *testing.T) {
	b, hs, _ := testBridge(t, KindQQ)
	rec := putTxn(b, "/_matrix/app/v1/transactions/1", "Bearer HS-qq", message("@owner:example.org", "help"))
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "{}" {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	waitFor(t, func() bool { return len(hs.find("PUT", "/send/m.room.message/")) == 1 })
	sent := hs.find("PUT", "/send/m.room.message/")[0]
	if !strings.HasPrefix(sent.Path, "/_matrix/client/v3/rooms/%21dm:example.org/send/m.room.message/") {
		t.Fatalf("path %s", sent.Path)
	}
	if sent.Auth != "Bearer AS-qq" || sent.UserID != "@qqbot:example.org" {
		t.Fatalf("sent as %q with %q", sent.UserID, sent.Auth)
	}
	body, _ := sent.Body["body"].(string)
	if sent.Body["msgtype"] != "m.notice" || !strings.HasPrefix(body, "matrix-qq stand-in bridge (not the real bridge): available commands:\n") {
		t.Fatalf("notice %v", sent.Body)
	}
	for _, cmd := range []string{"`help`", "`login`", "`logout`", "`ping`"} {
		if !strings.Contains(body, cmd) {
			t.Fatalf("help lacks %s: %s", cmd, body)
		}
	}
}

func TestPrefixedCommandsAndLogin(t *testing.T) {
	b, hs, _ := testBridge(t, KindWechat)
	putTxn(b, "/_matrix/app/v1/transactions/a", "Bearer HS-wx", message("@owner:example.org", "!wechat help"))
	putTxn(b, "/_matrix/app/v1/transactions/b", "Bearer HS-wx", message("@owner:example.org", "login"))
	putTxn(b, "/_matrix/app/v1/transactions/c", "Bearer HS-wx", message("@owner:example.org", "just chatting"))
	putTxn(b, "/_matrix/app/v1/transactions/d", "Bearer HS-wx", message("@owner:example.org", "!wechat frobnicate"))
	waitFor(t, func() bool { return len(hs.find("PUT", "/send/")) == 3 })
	time.Sleep(50 * time.Millisecond)
	sent := hs.find("PUT", "/send/")
	if len(sent) != 3 {
		t.Fatalf("want 3 replies (chat is ignored), got %d", len(sent))
	}
	if !strings.HasPrefix(sent[0].Body["body"].(string), "matrix-wechat stand-in bridge (not the real bridge): available commands:") {
		t.Fatalf("%v", sent[0].Body)
	}
	if !strings.Contains(sent[1].Body["body"].(string), "cannot log in to WeChat") {
		t.Fatalf("%v", sent[1].Body)
	}
	if !strings.HasPrefix(sent[2].Body["body"].(string), "Unknown command") {
		t.Fatalf("%v", sent[2].Body)
	}
}

func TestWrongHSTokenIsRefused(t *testing.T) {
	b, hs, _ := testBridge(t, KindQQ)
	for _, auth := range []string{"Bearer HS-wrong", ""} {
		rec := putTxn(b, "/_matrix/app/v1/transactions/x", auth, message("@owner:example.org", "help"))
		var e map[string]string
		json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != 403 || e["errcode"] != "M_UNKNOWN_TOKEN" {
			t.Fatalf("auth %q: got %d %s", auth, rec.Code, rec.Body)
		}
	}
	// matrix-qq's mautrix v0.23 no longer takes ?access_token=.
	rec := putTxn(b, "/_matrix/app/v1/transactions/y?access_token=HS-qq", "", message("@owner:example.org", "help"))
	if rec.Code != 403 {
		t.Fatalf("query token: got %d", rec.Code)
	}
	// The transaction refused above is accepted later with the right token: it was not recorded.
	if rec := putTxn(b, "/_matrix/app/v1/transactions/x", "Bearer HS-qq", message("@owner:example.org", "help")); rec.Code != 200 {
		t.Fatalf("got %d", rec.Code)
	}
	waitFor(t, func() bool { return len(hs.find("PUT", "/send/")) == 1 })
}

func TestWechatLegacyPathAndQueryToken(t *testing.T) {
	b, hs, _ := testBridge(t, KindWechat)
	if rec := putTxn(b, "/transactions/1?access_token=HS-wx", "", message("@owner:example.org", "help")); rec.Code != 200 {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	if rec := putTxn(b, "/transactions/2?access_token=nope", "", message("@owner:example.org", "help")); rec.Code != 403 {
		t.Fatalf("got %d", rec.Code)
	}
	waitFor(t, func() bool { return len(hs.find("PUT", "/send/")) == 1 })
}

func TestDuplicateTransactionIsHandledOnce(t *testing.T) {
	b, hs, logs := testBridge(t, KindQQ)
	for i := 0; i < 2; i++ {
		if rec := putTxn(b, "/_matrix/app/v1/transactions/same", "Bearer HS-qq", message("@owner:example.org", "help")); rec.Code != 200 {
			t.Fatalf("got %d", rec.Code)
		}
	}
	waitFor(t, func() bool { return len(hs.find("PUT", "/send/")) == 1 })
	time.Sleep(50 * time.Millisecond)
	if n := len(hs.find("PUT", "/send/")); n != 1 || !strings.Contains(logs.String(), "Ignoring duplicate transaction") {
		t.Fatalf("%d replies; logs:\n%s", n, logs.String())
	}
}

func TestInviteIsJoinedOrRejected(t *testing.T) {
	b, hs, _ := testBridge(t, KindQQ)
	invite := func(room, sender string) map[string]any {
		return map[string]any{"type": "m.room.member", "room_id": room, "sender": sender, "state_key": "@qqbot:example.org",
			"content": map[string]any{"membership": "invite", "is_direct": true}}
	}
	putTxn(b, "/_matrix/app/v1/transactions/i", "Bearer HS-qq",
		invite("!ok:example.org", "@owner:example.org"),
		invite("!no:example.org", "@stranger:elsewhere.example"),
		// Someone else's invite: not the bot's business.
		map[string]any{"type": "m.room.member", "room_id": "!x:example.org", "sender": "@owner:example.org", "state_key": "@friend:example.org",
			"content": map[string]any{"membership": "invite"}})
	waitFor(t, func() bool { return len(hs.find("POST", "/join")) == 1 && len(hs.find("POST", "/leave")) == 1 })
	if j := hs.find("POST", "/join")[0]; j.Path != "/_matrix/client/v3/rooms/%21ok:example.org/join" || j.UserID != "@qqbot:example.org" {
		t.Fatalf("join %+v", j)
	}
	if l := hs.find("POST", "/leave")[0]; !strings.Contains(l.Path, "%21no:example.org") {
		t.Fatalf("leave %+v", l)
	}
}

func TestPingLiveReady(t *testing.T) {
	b, _, _ := testBridge(t, KindQQ)
	do := func(method, path, auth, body string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		b.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	if c := do("GET", "/_matrix/mau/live", "", ""); c != 200 {
		t.Fatalf("live %d", c)
	}
	if c := do("GET", "/_matrix/mau/ready", "", ""); c != 500 {
		t.Fatalf("ready before start %d", c)
	}
	b.SetReady()
	if c := do("GET", "/_matrix/mau/ready", "", ""); c != 200 {
		t.Fatalf("ready %d", c)
	}
	if c := do("POST", "/_matrix/app/v1/ping", "Bearer HS-qq", `{"transaction_id":"t"}`); c != 200 {
		t.Fatalf("ping %d", c)
	}
	if c := do("POST", "/_matrix/app/v1/ping", "Bearer nope", `{}`); c != 403 {
		t.Fatalf("ping with wrong token %d", c)
	}
}

func TestQQRegistersOnForbiddenVersions(t *testing.T) {
	b, hs, logs := testBridge(t, KindQQ)
	hs.mu.Lock()
	hs.versionsForbidden = true
	hs.mu.Unlock()
	if code := b.ensureConnection(context.Background()); code != 0 {
		t.Fatalf("exit %d; logs:\n%s", code, logs.String())
	}
	reg := hs.find("POST", "/_matrix/client/v3/register")
	if len(reg) != 1 || reg[0].Body["type"] != "m.login.application_service" || reg[0].Body["username"] != "qqbot" {
		t.Fatalf("register %+v", reg)
	}
	if !strings.Contains(logs.String(), "Application service has not registered this user (@qqbot:example.org)") {
		t.Fatalf("Synapse's message not logged:\n%s", logs.String())
	}
	if len(hs.find("POST", "/_matrix/client/v1/appservice/qq/ping")) != 1 {
		t.Fatal("no homeserver->bridge ping")
	}
	b.setupBot(context.Background())
	dn := hs.find("PUT", "/displayname")
	if len(dn) != 1 || dn[0].Path != "/_matrix/client/v3/profile/@qqbot:example.org/displayname" || dn[0].Body["displayname"] != "QQ bridge bot" {
		t.Fatalf("displayname %+v", dn)
	}
}

func TestWechatGreetsANewDirectChatQQDoesNot(t *testing.T) {
	for kind, token := range map[Kind]string{KindWechat: "HS-wx", KindQQ: "HS-qq"} {
		b, hs, _ := testBridge(t, kind)
		bot := "@" + string(kind) + "bot:example.org"
		putTxn(b, "/_matrix/app/v1/transactions/g", "Bearer "+token,
			map[string]any{"type": "m.room.member", "room_id": "!dm:example.org", "sender": "@owner:example.org", "state_key": bot,
				"content": map[string]any{"membership": "invite", "is_direct": true}})
		waitFor(t, func() bool { return len(hs.find("POST", "/join")) == 1 })
		time.Sleep(100 * time.Millisecond)
		sends := hs.find("PUT", "/send/m.room.message/")
		if kind == KindWechat {
			if len(sends) != 1 || sends[0].Body["body"] != "Use `help` for help or `login` to log in." || sends[0].Body["msgtype"] != "m.notice" {
				t.Fatalf("wechat greeting: %+v", sends)
			}
		} else if len(sends) != 0 {
			t.Fatalf("qq sent %+v", sends)
		}
	}
}

func TestWedgedBySignalStaysLiveButIgnoresCommands(t *testing.T) {
	b, hs, _ := testBridge(t, KindWechat)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	b.wedgeOn(ctx, ch)
	putTxn(b, "/_matrix/app/v1/transactions/1", "Bearer HS-wx", message("@owner:example.org", "ping"))
	waitFor(t, func() bool { return len(hs.find("PUT", "/send/")) == 1 })
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.wedged.Load() })
	putTxn(b, "/_matrix/app/v1/transactions/2", "Bearer HS-wx", message("@owner:example.org", "help"))
	req := httptest.NewRequest(http.MethodGet, "/_matrix/mau/live", nil)
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("live while wedged: %d", rec.Code)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(hs.find("PUT", "/send/")); n != 1 {
		t.Fatalf("a wedged bridge answered: %d sends", n)
	}
}

func TestPretendedLoginToggledBySignal(t *testing.T) {
	b, hs, _ := testBridge(t, KindWechat)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR2)
	b.toggleLoginOn(ctx, ch)
	ping := func(txn string) string {
		n := len(hs.find("PUT", "/send/"))
		putTxn(b, "/_matrix/app/v1/transactions/"+txn, "Bearer HS-wx", message("@owner:example.org", "ping"))
		waitFor(t, func() bool { return len(hs.find("PUT", "/send/")) == n+1 })
		body, _ := hs.find("PUT", "/send/")[n].Body["body"].(string)
		return body
	}
	if got := ping("1"); !strings.HasPrefix(got, "You're not logged in") {
		t.Fatalf("before: %q", got)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.fakeLogin.Load() })
	if got := ping("2"); !strings.HasPrefix(got, "You're logged in to WeChat") {
		t.Fatalf("after one USR2: %q", got)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !b.fakeLogin.Load() })
	if got := ping("3"); !strings.HasPrefix(got, "You're not logged in") {
		t.Fatalf("after two: %q", got)
	}
}
