package main

// The client side: the stand-in talking to the homeserver as the app service.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// MatrixError is a non-2xx answer from the homeserver.
type MatrixError struct {
	Method, Path string
	Status       int
	ErrCode      string
	Message      string
	// Body is Synapse's extra "body" field (the app service ping puts the
	// bridge's answer there), or the raw body when it was not JSON.
	Body string
}

func (e *MatrixError) Error() string {
	s := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.ErrCode != "" {
		s += " " + e.ErrCode
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func errCode(err error) string {
	var me *MatrixError
	if errors.As(err, &me) {
		return me.ErrCode
	}
	return ""
}

// Homeserver is the app service's client: every request carries the as_token
// and acts as the bot (user_id=@bot:domain), like mautrix's bot intent.
type Homeserver struct {
	Base    string
	ASToken string
	UserID  string
	HTTP    *http.Client
	txn     atomic.Int64
	start   int64
}

func NewHomeserver(cfg *Config) *Homeserver {
	return &Homeserver{
		Base:    strings.TrimRight(cfg.HomeserverAddress, "/"),
		ASToken: cfg.ASToken,
		UserID:  cfg.BotUserID(),
		HTTP:    &http.Client{Timeout: 30 * time.Second},
		start:   time.Now().UnixMilli(),
	}
}

// TxnID returns a transaction id unique to this process.
func (h *Homeserver) TxnID() string {
	return "standin-" + strconv.FormatInt(h.start, 10) + "-" + strconv.FormatInt(h.txn.Add(1), 10)
}

// Do sends one request. out, when not nil, receives the JSON answer.
func (h *Homeserver) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	u := h.Base + path
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	u += sep + "user_id=" + url.QueryEscape(h.UserID)
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+h.ASToken)
	req.Header.Set("User-Agent", "matrix-kit-bridge-standin (not the real bridge)")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		me := &MatrixError{Method: method, Path: path, Status: resp.StatusCode}
		var e struct {
			ErrCode string `json:"errcode"`
			Error   string `json:"error"`
			Body    any    `json:"body"`
		}
		if json.Unmarshal(data, &e) == nil && e.ErrCode != "" {
			me.ErrCode, me.Message = e.ErrCode, e.Error
			switch b := e.Body.(type) {
			case nil:
			case string:
				me.Body = strings.TrimSpace(b)
			default:
				raw, _ := json.Marshal(b)
				me.Body = string(raw)
			}
		} else {
			me.Body = strings.TrimSpace(string(data))
			if len(me.Body) > 300 {
				me.Body = me.Body[:300]
			}
		}
		return me
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// DoRetry retries network errors, 429 and 5xx a few times (mautrix retries too).
func (h *Homeserver) DoRetry(ctx context.Context, method, path string, body, out any) error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		err = h.Do(ctx, method, path, body, out)
		var me *MatrixError
		if err == nil || ctx.Err() != nil || (errors.As(err, &me) && me.Status != 429 && me.Status < 500) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(1<<attempt) * time.Second):
		}
	}
	return err
}

func pathEsc(s string) string { return url.PathEscape(s) }

// Versions is GET /_matrix/client/versions.
func (h *Homeserver) Versions(ctx context.Context) ([]string, error) {
	var v struct {
		Versions []string `json:"versions"`
	}
	err := h.Do(ctx, http.MethodGet, "/_matrix/client/versions", nil, &v)
	return v.Versions, err
}

// Whoami is GET /_matrix/client/v3/account/whoami.
func (h *Homeserver) Whoami(ctx context.Context) (string, error) {
	var v struct {
		UserID string `json:"user_id"`
	}
	err := h.Do(ctx, http.MethodGet, "/_matrix/client/v3/account/whoami", nil, &v)
	return v.UserID, err
}

// Register registers the bot as an app service user (M_USER_IN_USE means it exists).
func (h *Homeserver) Register(ctx context.Context, localpart string) error {
	return h.DoRetry(ctx, http.MethodPost, "/_matrix/client/v3/register",
		map[string]any{"type": "m.login.application_service", "username": localpart}, nil)
}

// SetDisplayname sets the bot's display name.
func (h *Homeserver) SetDisplayname(ctx context.Context, name string) error {
	return h.DoRetry(ctx, http.MethodPut, "/_matrix/client/v3/profile/"+pathEsc(h.UserID)+"/displayname",
		map[string]any{"displayname": name}, nil)
}

// OwnAvatar is the bot's current avatar URL ("" when it has none).
func (h *Homeserver) OwnAvatar(ctx context.Context) (string, error) {
	var v struct {
		AvatarURL string `json:"avatar_url"`
	}
	err := h.DoRetry(ctx, http.MethodGet, "/_matrix/client/v3/profile/"+pathEsc(h.UserID)+"/avatar_url", nil, &v)
	var me *MatrixError
	if errors.As(err, &me) && me.Status == 404 {
		return "", nil
	}
	return v.AvatarURL, err
}

// Download fetches media as the bot and drops it; `mxc` is mxc://<server>/<media id>. A 5xx is
// retried, as mautrix retries: Synapse answers 502 for another server's media it cannot fetch.
func (h *Homeserver) Download(ctx context.Context, mxc string) error {
	return h.DoRetry(ctx, http.MethodGet, "/_matrix/client/v1/media/download/"+strings.TrimPrefix(mxc, "mxc://"), nil, nil)
}

// SetAvatar sets the bot's avatar URL.
func (h *Homeserver) SetAvatar(ctx context.Context, mxc string) error {
	return h.DoRetry(ctx, http.MethodPut, "/_matrix/client/v3/profile/"+pathEsc(h.UserID)+"/avatar_url",
		map[string]any{"avatar_url": mxc}, nil)
}

// AppservicePing asks the homeserver to ping the app service (Matrix v1.7).
func (h *Homeserver) AppservicePing(ctx context.Context, asID, txnID string) (int64, error) {
	var v struct {
		DurationMS int64 `json:"duration_ms"`
	}
	err := h.Do(ctx, http.MethodPost, "/_matrix/client/v1/appservice/"+pathEsc(asID)+"/ping",
		map[string]any{"transaction_id": txnID}, &v)
	return v.DurationMS, err
}

// Join joins a room as the bot.
func (h *Homeserver) Join(ctx context.Context, roomID string) error {
	return h.DoRetry(ctx, http.MethodPost, "/_matrix/client/v3/rooms/"+pathEsc(roomID)+"/join", map[string]any{}, nil)
}

// Leave leaves (or rejects an invite to) a room as the bot.
func (h *Homeserver) Leave(ctx context.Context, roomID, reason string) error {
	return h.DoRetry(ctx, http.MethodPost, "/_matrix/client/v3/rooms/"+pathEsc(roomID)+"/leave", map[string]any{"reason": reason}, nil)
}

// Send sends a message of the given msgtype as the bot and returns its event id.
func (h *Homeserver) Send(ctx context.Context, roomID, msgtype, body string) (string, error) {
	var v struct {
		EventID string `json:"event_id"`
	}
	err := h.DoRetry(ctx, http.MethodPut,
		"/_matrix/client/v3/rooms/"+pathEsc(roomID)+"/send/m.room.message/"+pathEsc(h.TxnID()),
		map[string]any{"msgtype": msgtype, "body": body}, &v)
	return v.EventID, err
}

// JoinedMembers lists the room's joined members, as the bot.
func (h *Homeserver) JoinedMembers(ctx context.Context, roomID string) ([]string, error) {
	var v struct {
		Joined map[string]any `json:"joined"`
	}
	err := h.DoRetry(ctx, http.MethodGet, "/_matrix/client/v3/rooms/"+pathEsc(roomID)+"/joined_members", nil, &v)
	members := make([]string, 0, len(v.Joined))
	for m := range v.Joined {
		members = append(members, m)
	}
	return members, err
}

// WhoamiAs is whoami with another app service's token acting as `userID` (double puppeting).
func (h *Homeserver) WhoamiAs(ctx context.Context, asToken, userID string) (string, error) {
	other := &Homeserver{Base: h.Base, ASToken: asToken, UserID: userID, HTTP: h.HTTP}
	return other.Whoami(ctx)
}

// supportsPing: the app service ping endpoint came with Matrix v1.7.
func supportsPing(versions []string) bool {
	for _, v := range versions {
		var major, minor int
		if _, err := fmt.Sscanf(v, "v%d.%d", &major, &minor); err == nil && (major > 1 || (major == 1 && minor >= 7)) {
			return true
		}
	}
	return false
}
