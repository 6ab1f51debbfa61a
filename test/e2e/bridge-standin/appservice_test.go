package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHelpSendsANoticeAsTheBot(t *testing.T) {
	b, hs, _ := testBridge(t, KindQQ)
	rec := putTxn(b, "/_matrix/app/v1/transactions/1", "Bearer HS-qq", message("@owner:example.org", "!qq help"))
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "{}" {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	waitFor(t, func() bool { return len(hs.find("PUT", "/send/m.room.message/")) == 1 })
	sent := hs.find("PUT", "/send/m.room.message/")[0]
	if sent.Auth != "Bearer AS-qq" || sent.UserID != "@qqbot:example.org" {
		t.Fatalf("sent as %q with %q", sent.UserID, sent.Auth)
	}
	want := "m.notice: This is not your management room: prefixing commands with `!qq` is required.\n" + helpParameters
	if got := sentBodies(hs, "!dm:example.org"); len(got) != 1 || !strings.HasPrefix(got[0], want) {
		t.Fatalf("help: %q", got)
	}
}

func TestPrefixedCommandsAnywhereBareOnesOnlyInTheManagementRoom(t *testing.T) {
	for _, kind := range []Kind{KindWechat, KindQQ} {
		b, hs, _ := testBridge(t, kind)
		token, bot, prefix := "HS-wx", "@wechatbot:example.org", "!wechat"
		if kind == KindQQ {
			token, bot, prefix = "HS-qq", "@qqbot:example.org", "!qq"
		}
		status, loggedOut := b.statusCommand(), wechatNotLoggedIn
		if kind == KindQQ {
			loggedOut = qqNotLoggedIn
		}
		// No management room yet: a bare command is chat; the prefixed one is answered.
		putTxn(b, "/_matrix/app/v1/transactions/a", "Bearer "+token, messageIn("!group:example.org", "@owner:example.org", status))
		putTxn(b, "/_matrix/app/v1/transactions/b", "Bearer "+token, messageIn("!group:example.org", "@owner:example.org", prefix+" "+status))
		waitFor(t, func() bool { return len(sentBodies(hs, "!group:example.org")) == 1 })
		// A room of three is never the management room.
		putTxn(b, "/_matrix/app/v1/transactions/c", "Bearer "+token, invite("!group:example.org", "@owner:example.org", bot, false))
		putTxn(b, "/_matrix/app/v1/transactions/d", "Bearer "+token, messageIn("!group:example.org", "@owner:example.org", status))
		// The direct chat becomes the management room: bare commands, chat included, are commands there.
		putTxn(b, "/_matrix/app/v1/transactions/e", "Bearer "+token, invite("!dm:example.org", "@owner:example.org", bot, true))
		putTxn(b, "/_matrix/app/v1/transactions/f", "Bearer "+token, messageIn("!dm:example.org", "@owner:example.org", status))
		putTxn(b, "/_matrix/app/v1/transactions/g", "Bearer "+token, messageIn("!dm:example.org", "@owner:example.org", "ping"))
		total := 7
		if kind == KindQQ {
			total = 4
		}
		waitFor(t, func() bool { return len(hs.find("PUT", "/send/")) >= total })
		time.Sleep(100 * time.Millisecond)
		group := sentBodies(hs, "!group:example.org")
		wantGroup := []string{"m.notice: " + loggedOut}
		if kind == KindWechat {
			wantGroup = append(wantGroup, "m.notice: "+wechatWelcome)
		}
		if strings.Join(group, "|") != strings.Join(wantGroup, "|") {
			t.Fatalf("%s group room: %q", kind, group)
		}
		dm := sentBodies(hs, "!dm:example.org")
		wantDM := []string{"m.notice: " + wechatWelcome, "m.notice: " + wechatManagementNote, "m.notice: " + wechatUseHelp, "m.notice: " + loggedOut, "m.notice: " + wechatNotLoggedIn}
		if kind == KindQQ {
			wantDM = []string{"m.text: " + qqGreetingFirst, "m.notice: " + loggedOut, "m.notice: " + unknownCommand}
		}
		if strings.Join(dm, "|") != strings.Join(wantDM, "|") {
			t.Fatalf("%s direct chat: %q", kind, dm)
		}
	}
}

func TestQQSecondDirectChatIsNotAManagementRoom(t *testing.T) {
	b, hs, _ := testBridge(t, KindQQ)
	putTxn(b, "/_matrix/app/v1/transactions/1", "Bearer HS-qq", invite("!dm:example.org", "@owner:example.org", "@qqbot:example.org", true))
	putTxn(b, "/_matrix/app/v1/transactions/2", "Bearer HS-qq", invite("!dm2:example.org", "@owner:example.org", "@qqbot:example.org", true))
	putTxn(b, "/_matrix/app/v1/transactions/3", "Bearer HS-qq", messageIn("!dm2:example.org", "@owner:example.org", "help"))
	waitFor(t, func() bool { return len(hs.find("PUT", "/send/")) == 2 })
	time.Sleep(100 * time.Millisecond)
	if got := sentBodies(hs, "!dm2:example.org"); len(got) != 1 || got[0] != "m.text: "+qqGreetingOther {
		t.Fatalf("second direct chat: %q", got)
	}
}

func TestWechatKeepsOneUserRow(t *testing.T) {
	b, hs, logs := testBridge(t, KindWechat)
	rows := b.Users.rows
	putTxn(b, "/_matrix/app/v1/transactions/1", "Bearer HS-wx", invite("!dm:example.org", "@owner:example.org", "@wechatbot:example.org", true))
	putTxn(b, "/_matrix/app/v1/transactions/2", "Bearer HS-wx", invite("!other:example.org", "@friend:example.org", "@wechatbot:example.org", true))
	waitFor(t, func() bool { return len(hs.find("POST", "/join")) == 2 })
	if !strings.Contains(logs.String(), `Failed to insert @friend:example.org: pq: duplicate key value violates unique constraint "user_uin_key"`) {
		t.Fatalf("logs:\n%s", logs.String())
	}
	// After a restart only the saved user keeps its management room.
	log := NewLogger(logs, KindWechat)
	after := NewUsers(rows, log)
	if u := after.Get(context.Background(), "@owner:example.org"); !u.Saved || u.ManagementRoom != "!dm:example.org" {
		t.Fatalf("owner after restart: %+v", u)
	}
	if u := after.Get(context.Background(), "@friend:example.org"); u.Saved || u.ManagementRoom != "" {
		t.Fatalf("second user after restart: %+v", u)
	}
}

func TestQQLoginHoldsTheEventHandlerUntilScannedOrExpired(t *testing.T) {
	b, hs, _ := testBridge(t, KindQQ)
	putTxn(b, "/_matrix/app/v1/transactions/1", "Bearer HS-qq", message("@owner:example.org", "!qq login"))
	putTxn(b, "/_matrix/app/v1/transactions/2", "Bearer HS-qq", message("@owner:example.org", "!qq help"))
	waitFor(t, func() bool { return b.qrWaiting.Load() })
	time.Sleep(200 * time.Millisecond)
	if got := sentBodies(hs, "!dm:example.org"); len(got) != 1 || got[0] != "m.notice: "+qqScanQR {
		t.Fatalf("while waiting for the scan: %q", got)
	}
	b.scanned <- struct{}{}
	// The wait is over: the queued command is handled next.
	waitFor(t, func() bool { return len(sentBodies(hs, "!dm:example.org")) == 3 })
}

func TestDoublePuppetPingMatrix(t *testing.T) {
	b, hs, _ := testBridge(t, KindQQ)
	putTxn(b, "/_matrix/app/v1/transactions/1", "Bearer HS-qq", message("@owner:example.org", "!qq ping-matrix"))
	waitFor(t, func() bool { return len(sentBodies(hs, "!dm:example.org")) == 1 })
	if got := sentBodies(hs, "!dm:example.org")[0]; got != "m.notice: Confirmed valid access token for @owner:example.org (appservice double puppeting)" {
		t.Fatalf("%q", got)
	}
	who := hs.find("GET", "/account/whoami")
	if len(who) != 1 || who[0].Auth != "Bearer DP-token" || who[0].UserID != "@owner:example.org" {
		t.Fatalf("whoami %+v", who)
	}
}

func TestWrongHSTokenIsRefused(t *testing.T) {
	b, hs, _ := testBridge(t, KindQQ)
	for _, auth := range []string{"Bearer HS-wrong", ""} {
		rec := putTxn(b, "/_matrix/app/v1/transactions/x", auth, message("@owner:example.org", "!qq help"))
		var e map[string]string
		json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != 403 || e["errcode"] != "M_UNKNOWN_TOKEN" {
			t.Fatalf("auth %q: got %d %s", auth, rec.Code, rec.Body)
		}
	}
	// matrix-qq's mautrix v0.23 no longer takes ?access_token=.
	rec := putTxn(b, "/_matrix/app/v1/transactions/y?access_token=HS-qq", "", message("@owner:example.org", "!qq help"))
	if rec.Code != 403 {
		t.Fatalf("query token: got %d", rec.Code)
	}
	// The transaction refused above is accepted later with the right token: it was not recorded.
	if rec := putTxn(b, "/_matrix/app/v1/transactions/x", "Bearer HS-qq", message("@owner:example.org", "!qq help")); rec.Code != 200 {
		t.Fatalf("got %d", rec.Code)
	}
	waitFor(t, func() bool { return len(hs.find("PUT", "/send/")) == 1 })
}

func TestWechatLegacyPathAndQueryToken(t *testing.T) {
	b, hs, _ := testBridge(t, KindWechat)
	if rec := putTxn(b, "/transactions/1?access_token=HS-wx", "", message("@owner:example.org", "!wechat help")); rec.Code != 200 {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	if rec := putTxn(b, "/transactions/2?access_token=nope", "", message("@owner:example.org", "!wechat help")); rec.Code != 403 {
		t.Fatalf("got %d", rec.Code)
	}
	waitFor(t, func() bool { return len(hs.find("PUT", "/send/")) == 1 })
}

func TestDuplicateTransactionIsHandledOnce(t *testing.T) {
	b, hs, logs := testBridge(t, KindQQ)
	for i := 0; i < 2; i++ {
		if rec := putTxn(b, "/_matrix/app/v1/transactions/same", "Bearer HS-qq", message("@owner:example.org", "!qq help")); rec.Code != 200 {
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

func TestWedgedBySignalStaysLiveButIgnoresCommands(t *testing.T) {
	b, hs, _ := testBridge(t, KindWechat)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	b.wedgeOn(ctx, ch)
	putTxn(b, "/_matrix/app/v1/transactions/1", "Bearer HS-wx", message("@owner:example.org", "!wechat ping"))
	waitFor(t, func() bool { return len(hs.find("PUT", "/send/")) == 1 })
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.wedged.Load() })
	putTxn(b, "/_matrix/app/v1/transactions/2", "Bearer HS-wx", message("@owner:example.org", "!wechat help"))
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

func TestWedgedAtStartFileWedgesOneStart(t *testing.T) {
	b, hs, _ := testBridge(t, KindWechat)
	dir := t.TempDir()
	b.wedgeIfAsked(dir)
	if b.wedged.Load() {
		t.Fatal("wedged without the file")
	}
	path := filepath.Join(dir, WedgedAtStartFile)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b.wedgeIfAsked(dir)
	if !b.wedged.Load() {
		t.Fatal("not wedged with the file")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the file is still there: %v", err)
	}
	putTxn(b, "/_matrix/app/v1/transactions/1", "Bearer HS-wx", message("@owner:example.org", "!wechat ping"))
	time.Sleep(300 * time.Millisecond)
	if n := len(hs.find("PUT", "/send/")); n != 0 {
		t.Fatalf("a bridge wedged from its start answered: %d sends", n)
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
		putTxn(b, "/_matrix/app/v1/transactions/"+txn, "Bearer HS-wx", message("@owner:example.org", "!wechat ping"))
		waitFor(t, func() bool { return len(hs.find("PUT", "/send/")) == n+1 })
		body, _ := hs.find("PUT", "/send/")[n].Body["body"].(string)
		return body
	}
	if got := ping("1"); got != wechatNotLoggedIn {
		t.Fatalf("before: %q", got)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.fakeLogin.Load() })
	if got := ping("2"); got != wechatLoggedIn(standinUin) {
		t.Fatalf("after one USR2: %q", got)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !b.fakeLogin.Load() })
	if got := ping("3"); got != wechatNotLoggedIn {
		t.Fatalf("after two: %q", got)
	}
}
