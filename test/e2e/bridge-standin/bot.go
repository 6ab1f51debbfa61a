package main

// The bot as the real ones behave, with their exact texts (shared/real-bridges/OBSERVED.md; the
// sources of matrix-qq 0.2.1 on mautrix-go v0.23.0 bridgev2 and matrix-wechat 0.2.4 on mautrix-go
// v0.16.2):
//   - an invite: the bot joins any room. WeChat greets every room with "Hello, I'm a WeChat
//     bridge bot."; a room of exactly two (the user and the bot) becomes the user's management
//     room when the user has none yet or the invite is a direct chat, and gets two more notices.
//     QQ: a room of exactly two becomes the management room only when the user has none (the
//     first ever), greeted with one m.text; another room of two gets the short m.text greeting;
//     a room of any other size, nothing.
//   - commands: a message starting with the command prefix (`!qq`, `!wechat`) in any room, or any
//     message in the user's management room; other messages are not commands.
//   - WeChat's `sync` (contacts, groups, space) answers as fnSync does for a logged-in user, and
//     "That command requires you to be logged in." otherwise; QQ has no `sync`.
//   - QQ has no `ping`; `list-logins` shows the login state. QQ's `login` waits for the QR scan
//     inside the event handler: no other event is handled until it ends.
// Differences that remain (no test depends on them): the stand-in never logs in, so a QR scan
// ends in "Login failed: failed to login through QR code: <the stand-in's own cause>"; the help's
// sections and the WeChat login with an agent connected are its own;
// QQ's QR code "expires" after STANDIN_QR_SECONDS (default 120: QQ's own lifetime is not
// known here) instead of QQ's servers saying so.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Exact texts of the real bridges.
const (
	wechatWelcome        = "Hello, I'm a WeChat bridge bot."
	wechatManagementNote = "This room has been registered as your bridge management/status room."
	wechatUseHelp        = "Use `help` for help or `login` to log in."
	wechatNotLoggedIn    = "You're not logged into WeChat."
	wechatNoAgent        = "Failed to connect: no agent connection avaiable"
	qqGreetingFirst      = "Hello, I'm a Matrix QQ bridge bot.\n\nUse `help` for help or `login` to log in.\n\nThis room has been marked as your management room."
	qqGreetingOther      = "Hello, I'm a Matrix QQ bridge bot.\n\nUse `!qq help` for help."
	qqNotLoggedIn        = "You're not logged in"
	qqScanQR             = "Scan the QR code on your QQ app to log in"
	qqLoginFailed        = "Login failed: "
	unknownCommand       = "Unknown command, use the `help` command for help."
	requiresLogin        = "That command requires you to be logged in."
	noDoublePuppet       = "You don't have double puppeting enabled."
	helpParameters       = "Parameters in [square brackets] are optional, while parameters in <angle brackets> are required."
)

// standinUin is the pretended login's account (SIGUSR2), in the real answers' shapes.
const standinUin = "10001"

func wechatLoggedIn(uin string) string {
	return fmt.Sprintf("Logged in as %s, connection to WeChat OK (probably)", uin)
}

// qqLogins is bridgev2's list-logins answer for one login in `state`: mautrix-go v0.23.0's
// GetFormattedUserLogins joins a slice that starts with an empty string, so the line comes after
// an empty one.
func qqLogins(uin, state string) string { return fmt.Sprintf("\n* `%s` (stand-in) - `%s`", uin, state) }

func (b *Bridge) helpText(inManagementRoom bool) string {
	first := fmt.Sprintf("This is not your management room: prefixing commands with `%s` is required.", b.Cfg.CommandPrefix)
	if inManagementRoom {
		first = fmt.Sprintf("This is your management room: prefixing commands with `%s` is not required.", b.Cfg.CommandPrefix)
	}
	return first + "\n" + helpParameters + "\n\n" +
		fmt.Sprintf("(matrix-%s stand-in, not the real bridge: it answers help, login, logout, ping-matrix and %s; it bridges no messages.)", b.Cfg.Kind, b.statusCommand())
}

// statusCommand is what shows the login state: WeChat's `ping`, QQ's `list-logins`.
func (b *Bridge) statusCommand() string {
	if b.Cfg.Kind == KindWechat {
		return "ping"
	}
	return "list-logins"
}

func (b *Bridge) handleInvite(ctx context.Context, ev Event, user *User) {
	if b.PermissionLevel(ev.Sender) < levels["commands"] {
		b.Log.Warn("Rejecting invite from user without permission", F{"room_id": ev.RoomID, "sender": ev.Sender})
		if err := b.HS.Leave(ctx, ev.RoomID, "You don't have permission to send commands to this bridge"); err != nil {
			b.Log.Error("Failed to reject invite", F{"room_id": ev.RoomID, "error": err})
		}
		return
	}
	if err := b.HS.Join(ctx, ev.RoomID); err != nil {
		b.Log.Error("Failed to join room after invite", F{"room_id": ev.RoomID, "sender": ev.Sender, "error": err})
		return
	}
	members, err := b.HS.JoinedMembers(ctx, ev.RoomID)
	if err != nil {
		b.Log.Error("Failed to get joined members", F{"room_id": ev.RoomID, "error": err})
		return
	}
	b.Log.Info("Joined room after invite", F{"room_id": ev.RoomID, "sender": ev.Sender, "members": len(members)})
	var c struct {
		IsDirect bool `json:"is_direct"`
	}
	_ = json.Unmarshal(ev.Content, &c)
	if b.Cfg.Kind == KindWechat {
		b.notice(ctx, ev.RoomID, wechatWelcome)
		if len(members) == 2 && (user.ManagementRoom == "" || c.IsDirect) {
			b.Users.SetManagementRoom(ctx, user, ev.RoomID)
			b.notice(ctx, ev.RoomID, wechatManagementNote)
			b.notice(ctx, ev.RoomID, wechatUseHelp)
		}
		return
	}
	if len(members) != 2 {
		return
	}
	if user.ManagementRoom == "" {
		b.Users.SetManagementRoom(ctx, user, ev.RoomID)
		b.text(ctx, ev.RoomID, qqGreetingFirst)
	} else {
		b.text(ctx, ev.RoomID, qqGreetingOther)
	}
}

// command returns the command text of a message, or "" when the message is not a command.
func (b *Bridge) command(body, roomID string, user *User) string {
	p := b.Cfg.CommandPrefix
	if b.Cfg.Kind == KindWechat {
		if strings.HasPrefix(body, p) {
			return strings.TrimLeft(strings.TrimPrefix(body, p), " ")
		}
	} else if strings.HasPrefix(body, p) {
		return strings.TrimPrefix(body, p+" ")
	}
	if roomID == user.ManagementRoom {
		return body
	}
	return ""
}

func (b *Bridge) handleCommand(ctx context.Context, ev Event, user *User, text string) {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return
	}
	cmd := strings.ToLower(fields[0])
	b.Log.Info("Received command", F{"room_id": ev.RoomID, "sender": ev.Sender, "mx_command": cmd})
	loggedIn := b.fakeLogin.Load()
	var reply string
	switch {
	case cmd == "help":
		reply = b.helpText(ev.RoomID == user.ManagementRoom)
	case cmd == "ping" && b.Cfg.Kind == KindWechat:
		reply = wechatNotLoggedIn
		if loggedIn {
			reply = wechatLoggedIn(standinUin)
		}
	case cmd == "list-logins" && b.Cfg.Kind == KindQQ:
		// A login that is lost stays listed with its state (bridgev2 keeps it until logged out).
		switch {
		case loggedIn:
			reply = qqLogins(standinUin, "CONNECTED")
		case b.hadLogin.Load():
			reply = qqLogins(standinUin, "BAD_CREDENTIALS")
		default:
			reply = qqNotLoggedIn
		}
	case cmd == "login" && b.Cfg.Kind == KindWechat:
		reply = wechatNoAgent
		if b.Agents.Count() > 0 {
			reply = "Stand-in: an agent is connected, but this stand-in cannot log in to WeChat."
		}
	case cmd == "login":
		b.qqLogin(ctx, ev.RoomID)
		return
	case cmd == "logout":
		b.fakeLogin.Store(false)
		b.hadLogin.Store(false)
		reply = "Stand-in: logged out (it never logs in)."
	case cmd == "sync" && b.Cfg.Kind == KindWechat:
		// mautrix-go v0.16.2 checks RequiresLogin before the handler runs.
		if !loggedIn {
			reply = requiresLogin
			break
		}
		b.Log.Info("Sync requested", F{"args": strings.Join(fields[1:], " ")})
		for _, r := range wechatSync(fields[1:]) {
			b.notice(ctx, ev.RoomID, r)
		}
		return
	case cmd == "ping-matrix":
		if b.Cfg.Kind == KindWechat && !loggedIn {
			reply = requiresLogin
		} else {
			reply = b.pingMatrix(ctx, ev.Sender)
		}
	default:
		reply = unknownCommand
	}
	b.notice(ctx, ev.RoomID, reply)
}

// qqLogin plays matrix-qq's QR login: it holds the event handler (the worker) until the QR code
// is "scanned" (SIGUSR2, test only) or expires, then ends it with bridgev2's "Login failed: <error>"
// and matrix-qq's errors ("QR code expired"; after a scan, "failed to login through QR code: ..."
// with the stand-in's own cause, as it cannot log in).
func (b *Bridge) qqLogin(ctx context.Context, roomID string) {
	b.notice(ctx, roomID, qqScanQR)
	wait := 120 * time.Second
	if v, err := strconv.Atoi(os.Getenv("STANDIN_QR_SECONDS")); err == nil && v > 0 {
		wait = time.Duration(v) * time.Second
	}
	b.Log.Info("Waiting for the QR code to be scanned (the event handler waits with it)", F{"seconds": wait.Seconds()})
	b.qrWaiting.Store(true)
	defer b.qrWaiting.Store(false)
	select {
	case <-b.scanned:
		b.notice(ctx, roomID, qqLoginFailed+"failed to login through QR code: the stand-in cannot log in to QQ")
	case <-time.After(wait):
		b.notice(ctx, roomID, qqLoginFailed+"QR code expired")
	case <-ctx.Done():
	}
}

// pingMatrix checks the user's double puppet: a secret `as_token:<token>` for the user's server
// makes the bridge act as the user with ?user_id= (mautrix's appservice double puppeting).
func (b *Bridge) pingMatrix(ctx context.Context, mxid string) string {
	server := mxid[strings.IndexByte(mxid, ':')+1:]
	secret, ok := b.Cfg.DoublePuppetSecrets[server]
	if !ok || !strings.HasPrefix(secret, "as_token:") {
		return noDoublePuppet
	}
	got, err := b.HS.WhoamiAs(ctx, strings.TrimPrefix(secret, "as_token:"), mxid)
	if err != nil {
		return "Failed to validate Matrix login: " + err.Error()
	}
	if got != mxid {
		return fmt.Sprintf("Failed to validate Matrix login: mismatching user ID (%s)", got)
	}
	return fmt.Sprintf("Confirmed valid access token for %s (appservice double puppeting)", mxid)
}

func (b *Bridge) notice(ctx context.Context, roomID, body string) {
	if _, err := b.HS.Send(ctx, roomID, "m.notice", body); err != nil {
		b.Log.Error("Failed to send notice", F{"room_id": roomID, "error": err})
	}
}

func (b *Bridge) text(ctx context.Context, roomID, body string) {
	if _, err := b.HS.Send(ctx, roomID, "m.text", body); err != nil {
		b.Log.Error("Failed to send message", F{"room_id": roomID, "error": err})
	}
}

// wechatSync answers matrix-wechat 0.2.4's `sync` (internal/command.go fnSync) for a logged-in user:
// its usage and argument checks, then one answer per part asked for. The stand-in has no
// contacts, groups or portals, so each resync succeeds at once and the space gets no room; it
// logs what it was asked (the e2e reads it). The kit's config turns personal filtering spaces on.
func wechatSync(args []string) []string {
	a := strings.ToLower(strings.Join(args, " "))
	contacts := strings.Contains(a, "contacts")
	space := strings.Contains(a, "space")
	groups := strings.Contains(a, "groups") || space
	if !contacts && !space && !groups {
		return []string{"**Usage:** `sync <contacts/groups/space> [--contact-avatars] [--create-portals]`"}
	}
	if strings.Contains(a, "--contact-avatars") && !contacts {
		return []string{"`--contact-avatars` can only be used with `sync contacts`"}
	}
	var out []string
	if contacts {
		out = append(out, "Resynced contacts")
	}
	if space {
		out = append(out, "Added 0 DM rooms to space")
	}
	if groups {
		out = append(out, "Resynced groups")
	}
	return out
}
