package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func agentServer(t *testing.T) (*httptest.Server, *AgentListener, *lockedWriter) {
	t.Helper()
	logs := &lockedWriter{w: &strings.Builder{}}
	a := NewAgentListener("s3cret", NewLogger(logs, KindWechat))
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv, a, logs
}

func dial(t *testing.T, srv *httptest.Server, path, auth string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if auth != "" {
		h.Set("Authorization", auth)
	}
	return websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+path, h)
}

func refusal(t *testing.T, resp *http.Response) map[string]string {
	t.Helper()
	if resp == nil {
		t.Fatal("no HTTP response")
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("want 403, got %d", resp.StatusCode)
	}
	body, _ := io.ReadAll(resp.Body)
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("refusal is not JSON: %q", body)
	}
	return m
}

func TestAgentRightSecretUpgradesOnAnyPath(t *testing.T) {
	srv, a, logs := agentServer(t)
	for _, path := range []string{"/", "/_wechat/"} {
		conn, resp, err := dial(t, srv, path, "Basic s3cret")
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("want 101, got %d", resp.StatusCode)
		}
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"id":7,"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != `{"id":7,"type":"pong"}` {
			t.Fatalf("got %s", data)
		}
		if a.Count() != 1 {
			t.Fatalf("want 1 agent, got %d", a.Count())
		}
		conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		conn.Close()
		waitFor(t, func() bool { return a.Count() == 0 })
	}
	waitFor(t, func() bool { return strings.Count(logs.String(), "agent disconnected") == 2 })
	if strings.Count(logs.String(), "Agent connected from ") != 2 {
		t.Fatalf("logs:\n%s", logs.String())
	}
}

func TestAgentWrongSecretIsUnknownToken(t *testing.T) {
	srv, _, _ := agentServer(t)
	// Also the base64 user:password form a generic client would send: matrix-wechat wants the raw secret.
	for _, auth := range []string{"Basic not-the-secret", "Basic " + base64.StdEncoding.EncodeToString([]byte("agent:s3cret"))} {
		_, resp, err := dial(t, srv, "/_wechat/", auth)
		if err != websocket.ErrBadHandshake {
			t.Fatalf("want bad handshake, got %v", err)
		}
		if m := refusal(t, resp); m["code"] != "M_UNKNOWN_TOKEN" || m["message"] != "Unknown authorization token" {
			t.Fatalf("got %v", m)
		}
	}
}

func TestAgentMissingAuthorizationIsMissingToken(t *testing.T) {
	srv, _, _ := agentServer(t)
	for _, auth := range []string{"", "Bearer s3cret"} {
		_, resp, err := dial(t, srv, "/", auth)
		if err != websocket.ErrBadHandshake {
			t.Fatalf("want bad handshake, got %v", err)
		}
		if m := refusal(t, resp); m["code"] != "M_MISSING_TOKEN" || m["message"] != "Missing authorization header" {
			t.Fatalf("got %v", m)
		}
	}
}
