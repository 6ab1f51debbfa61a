package main

// The start's connection to the homeserver, as mautrix does it: /versions until it answers,
// /whoami with the as_token, the homeserver -> bridge ping, then the bot user and its profile.

import (
	"context"
	"errors"
	"strings"
	"time"
)

// sleepCtx waits d, or less when ctx ends first (then false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// logInitialRequestError uses mautrix v0.23's wording for the auth errors.
func (b *Bridge) logInitialRequestError(err error, def string) {
	switch errCode(err) {
	case "M_UNKNOWN_TOKEN":
		b.Log.Fatal("The as_token was not accepted. Is the registration file installed in your homeserver correctly?", F{"error": err})
	case "M_EXCLUSIVE":
		b.Log.Fatal("The as_token was accepted, but the /register request was not. Are the homeserver domain, bot username and username template in the config correct, and do they match the values in the registration?", F{"error": err})
	default:
		b.Log.Fatal(def, F{"error": err})
	}
}

// ensureConnection: /versions until it answers, /whoami, then the
// homeserver->bridge ping. Returns an exit code, 0 when all is well.
func (b *Bridge) ensureConnection(ctx context.Context) int {
	var versions []string
	triedRegister := false
	for {
		v, err := b.HS.Versions(ctx)
		if err == nil {
			versions = v
			break
		}
		if ctx.Err() != nil {
			return 0
		}
		// err carries Synapse's words, e.g. "M_FORBIDDEN: Application service has
		// not registered this user (@wechatbot:example.com)".
		code := errCode(err)
		if b.Cfg.Kind == KindQQ {
			// mautrix-go v0.23.0: register the bot on M_FORBIDDEN, exit on auth errors.
			switch code {
			case "M_FORBIDDEN":
				if triedRegister && !sleepCtx(ctx, 10*time.Second) {
					return 0
				}
				b.Log.Warn("M_FORBIDDEN in /versions, trying to register before retrying", F{"error": err})
				triedRegister = true
				if rerr := b.HS.Register(ctx, b.Cfg.BotUsername); rerr != nil && errCode(rerr) != "M_USER_IN_USE" {
					b.logInitialRequestError(rerr, "Failed to register after /versions failed with M_FORBIDDEN")
					return 16
				}
				continue
			case "M_UNKNOWN_TOKEN", "M_EXCLUSIVE":
				b.logInitialRequestError(err, "/versions request failed with auth error")
				return 16
			}
		} else if code == "M_FORBIDDEN" {
			// mautrix-go v0.16.2 (matrix-wechat 0.2.4) never registers here: it
			// retries forever, which is duo/matrix-wechat#33.
			b.Log.Warn("stand-in note: the real matrix-wechat 0.2.4 loops here forever (duo/matrix-wechat#33); the homeserver's registration for this bridge must have sender_localpart = appservice.bot.username", F{"bot": b.Cfg.BotUserID()})
		}
		b.Log.Error("Failed to connect to homeserver, retrying in 10 seconds...", F{"error": err})
		if !sleepCtx(ctx, 10*time.Second) {
			return 0
		}
	}
	b.Log.Info("Homeserver answered /versions", F{"versions": len(versions)})

	who, err := b.HS.Whoami(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return 0
		}
		if errCode(err) == "M_UNKNOWN_TOKEN" {
			b.logInitialRequestError(err, "")
		} else {
			b.Log.Fatal("/whoami request failed with unknown error", F{"error": err})
		}
		return 16
	} else if who != b.Cfg.BotUserID() {
		b.Log.Fatal("Unexpected user ID in whoami call", F{"got_user_id": who, "expected_user_id": b.Cfg.BotUserID()})
		return 17
	}

	if !supportsPing(versions) {
		b.Log.Info("Homeserver does not support checking status of homeserver -> bridge connection", nil)
		return 0
	}
	const maxRetries = 6
	for retry := 0; ; retry++ {
		txnID := b.HS.TxnID()
		ms, err := b.HS.AppservicePing(ctx, b.Cfg.ID, txnID)
		if err == nil {
			b.Log.Info("Homeserver -> bridge connection works", F{"txn_id": txnID, "duration_ms": ms})
			return 0
		}
		if ctx.Err() != nil {
			return 0
		}
		f := F{"txn_id": txnID, "error": err}
		var me *MatrixError
		if errors.As(err, &me) && me.Body != "" {
			f["body"] = me.Body
		}
		if retry >= maxRetries {
			b.Log.Fatal("Homeserver -> bridge connection is not working", f)
			return 13
		}
		b.Log.Error("Homeserver -> bridge connection is not working, retrying in 5 seconds...", f)
		if !sleepCtx(ctx, 5*time.Second) {
			return 0
		}
	}
}

// setupBot makes sure the bot user exists and has its display name (and avatar).
func (b *Bridge) setupBot(ctx context.Context) {
	err := b.HS.Register(ctx, b.Cfg.BotUsername)
	switch {
	case err == nil:
		b.Log.Info("Registered the bot user", F{"bot": b.Cfg.BotUserID()})
	case errCode(err) == "M_USER_IN_USE":
		b.Log.Info("Bot user already registered", F{"bot": b.Cfg.BotUserID()})
	default:
		b.Log.Error("Failed to register the bot user", F{"bot": b.Cfg.BotUserID(), "error": err})
	}
	if b.Cfg.BotDisplayname != "" {
		if err := b.HS.SetDisplayname(ctx, b.Cfg.BotDisplayname); err != nil {
			b.Log.Error("Failed to set the bot's display name", F{"error": err})
		} else {
			b.Log.Info("Set the bot's display name", F{"displayname": b.Cfg.BotDisplayname})
		}
	}
	b.setBotAvatar(ctx)
}

// setBotAvatar does what the real bridges do on start with `appservice.bot.avatar` (mautrix-go's
// UpdateBotProfile and IntentAPI.SetAvatarURL): "" leaves the avatar as it is; "remove" clears it;
// an mxc:// URI is set when it differs from the current one. QQ (mautrix-go v0.23.0) first downloads
// it through the homeserver ("some homeservers require the avatar to be downloaded before setting
// it"), so Synapse fetches another server's media into its remote cache (OBSERVED.md: upstream's
// example avatar on matrix.org); WeChat (v0.16.2) does not download.
func (b *Bridge) setBotAvatar(ctx context.Context) {
	want := b.Cfg.BotAvatar
	switch {
	case want == "":
		return
	case want == "remove":
		want = ""
	case !strings.HasPrefix(want, "mxc://"):
		b.Log.Warn("Failed to update bot avatar", F{"error": "invalid ContentURI in bot avatar"})
		return
	}
	current, err := b.HS.OwnAvatar(ctx)
	if err != nil {
		b.Log.Warn("Failed to update bot avatar", F{"error": "failed to check current avatar URL: " + err.Error()})
		return
	}
	if current == want {
		return
	}
	if want != "" && b.Cfg.Kind == KindQQ {
		_ = b.HS.Download(ctx, want)
	}
	if err := b.HS.SetAvatar(ctx, want); err != nil {
		b.Log.Warn("Failed to update bot avatar", F{"error": err})
	}
}
