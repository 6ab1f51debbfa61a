package main

// matrix-wechat 0.2.4's `sync` as the stand-in answers it (its source, internal/command.go fnSync:
// no login was possible when the real bridges were observed, so OBSERVED.md records only the help
// line and the logged-out answer mautrix-go gives a RequiresLogin command, seen for ping-matrix).

import (
	"fmt"
	"strings"
	"testing"
)

func TestWechatSync(t *testing.T) {
	if !strings.Contains(observedLine(t, "| `help` (management room) |"), "`sync <contacts/groups/space> [--contact-avatars] [--create-portals]`") {
		t.Fatal("the record's help no longer lists sync as the stand-in answers it")
	}
	if !strings.Contains(observedItem(t, "`ping-matrix` in the owner's QQ management room"), "That command requires you to be logged in.") || requiresLogin != "That command requires you to be logged in." {
		t.Fatal("the record's answer to a command that requires a login changed")
	}
	b, hs, logs := testBridge(t, KindWechat)
	n := 0
	ask := func(body string, answers int) []string {
		n++
		before := len(sentBodies(hs, "!dm:example.org"))
		putTxn(b, fmt.Sprintf("/_matrix/app/v1/transactions/%d", n), "Bearer HS-wx", message("@owner:example.org", body))
		var got []string
		waitFor(t, func() bool { got = sentBodies(hs, "!dm:example.org"); return len(got) == before+answers })
		return got[before:]
	}
	if got := ask("!wechat sync contacts --contact-avatars", 1); got[0] != "m.notice: "+requiresLogin {
		t.Fatalf("not logged in: %q", got)
	}
	b.fakeLogin.Store(true)
	for _, c := range []struct {
		body string
		want []string
	}{
		{"!wechat sync contacts --contact-avatars", []string{"Resynced contacts"}},
		{"!wechat sync groups", []string{"Resynced groups"}},
		{"!wechat sync space", []string{"Added 0 DM rooms to space", "Resynced groups"}},
		{"!wechat sync groups --contact-avatars", []string{"`--contact-avatars` can only be used with `sync contacts`"}},
		{"!wechat sync", []string{"**Usage:** `sync <contacts/groups/space> [--contact-avatars] [--create-portals]`"}},
	} {
		got := ask(c.body, len(c.want))
		for i, w := range c.want {
			if got[i] != "m.notice: "+w {
				t.Fatalf("%s: %q, want %q", c.body, got, c.want)
			}
		}
	}
	if !strings.Contains(logs.String(), `Sync requested args="contacts --contact-avatars"`) {
		t.Fatalf("the stand-in logs what it was asked to sync:\n%s", logs.String())
	}
}
