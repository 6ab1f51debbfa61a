package main

// Conformance: the stand-ins hold to what the real bridges were seen to do, as recorded in
// shared/real-bridges/OBSERVED.md (read here, so a change there fails this test until the
// stand-in follows). Each test names the row of the record it checks.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const observedPath = "../../../../shared/real-bridges/OBSERVED.md"

// observedLine is the first line of the record that contains `marker`.
func observedLine(t *testing.T, marker string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash(observedPath))
	if err != nil {
		t.Fatalf("the record of the real bridges (%s): %v", observedPath, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, marker) {
			return line
		}
	}
	t.Fatalf("OBSERVED.md has no line with %q", marker)
	return ""
}

// observedItem is the record's list item (a line and the indented lines after it, joined by
// spaces) that contains `marker`: the record wraps long items.
func observedItem(t *testing.T, marker string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash(observedPath))
	if err != nil {
		t.Fatalf("the record of the real bridges (%s): %v", observedPath, err)
	}
	var items []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "  ") && len(items) > 0 {
			items[len(items)-1] += " " + strings.TrimSpace(line)
		} else {
			items = append(items, line)
		}
	}
	for _, item := range items {
		if strings.Contains(item, marker) {
			return item
		}
	}
	t.Fatalf("OBSERVED.md has no item with %q", marker)
	return ""
}

// quoted is every `code` span of a Markdown line, with \` and \n unescaped as the record writes them.
func quoted(line string) []string {
	var out []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line) && line[i+1] == '`':
			cur.WriteByte('`')
			i++
		case c == '\\' && i+1 < len(line) && line[i+1] == 'n' && in:
			cur.WriteByte('\n')
			i++
		case c == '`':
			if in {
				out = append(out, cur.String())
				cur.Reset()
			}
			in = !in
		case in:
			cur.WriteByte(c)
		}
	}
	return out
}

// cut is a recorded text up to the record's "…", where it cut a long text.
func cut(s string) string { return strings.SplitN(s, "…", 2)[0] }

func TestObservedGreetings(t *testing.T) {
	qq := quoted(observedLine(t, "QQ greets with one **m.text**"))
	if len(qq) != 1 || qq[0] != qqGreetingFirst {
		t.Fatalf("QQ's first greeting: record %q, stand-in %q", qq, qqGreetingFirst)
	}
	second := quoted(observedLine(t, "In a user's second direct chat"))
	if len(second) != 1 || second[0] != qqGreetingOther {
		t.Fatalf("QQ's second greeting: record %q, stand-in %q", second, qqGreetingOther)
	}
	wx := quoted(observedLine(t, "WeChat greets with three **m.notice** events"))
	if strings.Join(wx, "|") != strings.Join([]string{wechatWelcome, wechatManagementNote, wechatUseHelp}, "|") {
		t.Fatalf("WeChat's three notices: record %q", wx)
	}
}

func TestObservedCommandAnswers(t *testing.T) {
	ping := quoted(observedLine(t, "| `ping` |"))
	// `ping`, QQ's answer, WeChat's logged out, WeChat's logged in.
	if len(ping) != 4 || ping[1] != unknownCommand || ping[2] != wechatNotLoggedIn || ping[3] != "Logged in as <uin>, connection to WeChat OK (probably)" {
		t.Fatalf("ping row: %q", ping)
	}
	if wechatLoggedIn("<uin>") != ping[3] {
		t.Fatalf("stand-in's logged-in answer %q", wechatLoggedIn("<uin>"))
	}
	login := quoted(observedLine(t, "| `login` |"))
	if login[len(login)-1] != wechatNoAgent {
		t.Fatalf("login row: %q", login)
	}
	var help []string
	for _, q := range quoted(observedLine(t, "| `help` (management room) |")) {
		if strings.HasPrefix(q, "This is your management room") {
			help = append(help, q)
		}
	}
	if len(help) != 2 {
		t.Fatalf("help row: %q", help)
	}
	for i, prefix := range []string{"!qq", "!wechat"} {
		b := &Bridge{Cfg: &Config{CommandPrefix: prefix, Kind: KindQQ}}
		if !strings.HasPrefix(b.helpText(true), cut(help[i])) {
			t.Fatalf("help in the management room: record %q, stand-in %q", help[i], b.helpText(true))
		}
	}
	outside := quoted(observedLine(t, "| the same with the prefix"))
	b := &Bridge{Cfg: &Config{CommandPrefix: "!qq", Kind: KindQQ}}
	if !strings.HasPrefix(b.helpText(false), cut(outside[2])) {
		t.Fatalf("help outside: record %q, stand-in %q", outside[2], b.helpText(false))
	}
	if !strings.Contains(observedLine(t, "| a bare command outside the management room |"), "ignored, no answer | ignored, no answer") {
		t.Fatal("the record's rule for bare commands changed")
	}
}

func TestObservedWechatOneUserRule(t *testing.T) {
	rec := quoted(observedLine(t, "WRN Failed to insert @owner:e2e.localhost"))
	b, _, logs := testBridge(t, KindWechat)
	ctx := context.Background()
	b.Users.Get(ctx, "@kit-watchdog:e2e.localhost")
	b.Users.Get(ctx, "@owner:e2e.localhost")
	want := strings.TrimPrefix(rec[0], "WRN ")
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		found = found || (strings.Contains(line, " WRN ") && strings.HasSuffix(line, want))
	}
	if !found {
		t.Fatalf("record %q; stand-in logged:\n%s", rec[0], logs.String())
	}
}

func TestObservedAgentLogLine(t *testing.T) {
	rec := quoted(observedLine(t, "WeChat agent over nginx"))
	if len(rec) < 2 || cut(rec[1]) != "Agent connected from " {
		t.Fatalf("record %q", rec)
	}
	data, _ := os.ReadFile("agent.go")
	if !strings.Contains(string(data), `"Agent connected from "+remote`) {
		t.Fatal("the stand-in's agent line differs from the record's")
	}
}

func TestObservedExitWhenPostgresIsUnreachable(t *testing.T) {
	row := observedLine(t, "| PostgreSQL unreachable at start |")
	if !strings.Contains(row, "exits (code 15)") || !strings.Contains(row, "panics (exit code 2)") {
		t.Fatalf("row %q", row)
	}
	log := NewLogger(&lockedWriter{w: &strings.Builder{}}, KindQQ)
	if code := databaseUnreachable(KindQQ, "postgres://x", errors.New("refused"), log); code != 15 {
		t.Fatalf("qq exits %d", code)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("wechat must panic (Go exits 2)")
		}
	}()
	databaseUnreachable(KindWechat, "postgres://x", errors.New("refused"), log)
}

func TestObservedQQLoginBlocksOtherEvents(t *testing.T) {
	if !strings.Contains(observedLine(t, "| `login` |"), "while it waits the bridge handles no other Matrix event") {
		t.Fatal("the record's login row changed")
	}
	b, hs, _ := testBridge(t, KindQQ)
	putTxn(b, "/_matrix/app/v1/transactions/1", "Bearer HS-qq", message("@owner:example.org", "!qq login"))
	putTxn(b, "/_matrix/app/v1/transactions/2", "Bearer HS-qq", message("@owner:example.org", "!qq list-logins"))
	waitFor(t, func() bool { return b.qrWaiting.Load() })
	time.Sleep(300 * time.Millisecond)
	if got := sentBodies(hs, "!dm:example.org"); len(got) != 1 {
		t.Fatalf("an event was handled during the login: %q", got)
	}
}

func TestObservedBotAvatarFetchedOnStart(t *testing.T) {
	rec := observedItem(t, "on its first start the real QQ bridge sets its bot's avatar from `appservice.bot.avatar`")
	avatar, want := "", ""
	for _, q := range quoted(rec) {
		if strings.HasPrefix(q, "mxc://matrix.org/") && avatar == "" {
			avatar = q // QQ's; WeChat's comes after it
		}
		if strings.HasPrefix(q, "GET /_matrix/client/v1/media/download/") {
			want = strings.TrimPrefix(strings.SplitN(q, "?", 2)[0], "GET ")
		}
	}
	if avatar == "" || want != "/_matrix/client/v1/media/download/"+strings.TrimPrefix(avatar, "mxc://") {
		t.Fatalf("record: %q", rec)
	}
	for _, kind := range []Kind{KindQQ, KindWechat} {
		b, hs, _ := testBridge(t, kind)
		b.Cfg.BotAvatar = avatar
		b.setBotAvatar(context.Background())
		got := hs.find("GET", "/_matrix/client/v1/media/download/")
		// The real QQ bridge (mautrix-go v0.23.0) downloads it as its bot; WeChat's v0.16.2 does not.
		if kind == KindQQ && (len(got) != 1 || got[0].Path != want || got[0].UserID != b.Cfg.BotUserID()) {
			t.Fatalf("qq downloads %s as its bot: %+v", want, got)
		}
		if kind == KindWechat && len(got) != 0 {
			t.Fatalf("wechat downloads nothing: %+v", got)
		}
		if set := hs.find("PUT", "/avatar_url"); len(set) != 1 || set[0].Body["avatar_url"] != avatar {
			t.Fatalf("%s sets the avatar: %+v", kind, set)
		}
	}
	// The kit's "remove" (render/bridges.ts): no download, and nothing to clear on a bot with no avatar.
	b, hs, _ := testBridge(t, KindQQ)
	b.Cfg.BotAvatar = "remove"
	b.setBotAvatar(context.Background())
	if len(hs.find("GET", "/media/")) != 0 || len(hs.find("PUT", "/avatar_url")) != 0 {
		t.Fatalf("remove: %+v", hs.requests)
	}
}

func TestObservedConfigRewriteOnStart(t *testing.T) {
	warning := quoted(observedLine(t, "WeChat prints `Ignoring incorrect config field type !!null at bridge->hs_proxy` from its second start"))[0]
	first, said, err := upgradeConfig(KindWechat, []byte(wechatConfig))
	if err != nil || len(said) != 0 {
		t.Fatalf("first start: %v %q", err, said)
	}
	second, said, err := upgradeConfig(KindWechat, first)
	if err != nil || len(said) != 1 || said[0] != warning {
		t.Fatalf("second start: %v %q, record %q", err, said, warning)
	}
	if string(second) != string(first) {
		t.Fatal("the second start changes nothing more")
	}
	if c, err := ParseConfig(KindWechat, second); err != nil || c.ListenSecret == "" {
		t.Fatalf("every kit value kept: %v", err)
	}

	if !strings.Contains(observedLine(t, "| config rewrite on start |"), "the whole `network:` section is reset to upstream's defaults") {
		t.Fatal("the record's rewrite row changed")
	}
	out, _, err := upgradeConfig(KindQQ, []byte(qqConfig))
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := parseYAML(out)
	servers, _ := tr.node("network", "sign_servers")
	if fmt.Sprint(servers) != "[https://sign.lagrangecore.org/api/sign/30366 https://sign.0w0.ing/api/sign/30366]" {
		t.Fatalf("qq's network section after the rewrite: %v", servers)
	}
	if tr.strOr("", "appservice", "bot", "username") != "qqbot" {
		t.Fatal("qq keeps the rest")
	}
}

func TestObservedListLoginsStates(t *testing.T) {
	rec := observedItem(t, "`list-logins` lists every login as")
	if !strings.Contains(rec, "``* `<id>` (<name>) - `<STATE>` ``") || !strings.Contains(rec, "each line after an empty one") {
		t.Fatalf("record %q", rec)
	}
	b, hs, _ := testBridge(t, KindQQ)
	ask := func(n int) string {
		putTxn(b, fmt.Sprintf("/_matrix/app/v1/transactions/%d", n), "Bearer HS-qq", message("@owner:example.org", "!qq list-logins"))
		var got []string
		waitFor(t, func() bool { got = sentBodies(hs, "!dm:example.org"); return len(got) == n })
		return got[n-1]
	}
	if got := ask(1); got != "m.notice: "+qqNotLoggedIn {
		t.Fatalf("never logged in: %q", got)
	}
	b.fakeLogin.Store(true)
	b.hadLogin.Store(true)
	if got := ask(2); got != "m.notice: \n* `10001` (stand-in) - `CONNECTED`" {
		t.Fatalf("logged in: %q", got)
	}
	// A login lost (the pretended login switched off) stays listed, in a state that does not work.
	b.fakeLogin.Store(false)
	if got := ask(3); got != "m.notice: \n* `10001` (stand-in) - `BAD_CREDENTIALS`" {
		t.Fatalf("lost: %q", got)
	}
}
