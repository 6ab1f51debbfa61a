package main

// Conformance: the stand-ins hold to what the real bridges were seen to do, as recorded in
// shared/real-bridges/OBSERVED.md (read here, so a change there fails this test until the
// stand-in follows). Each test names the row of the record it checks.

import (
	"context"
	"errors"
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
