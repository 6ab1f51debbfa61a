package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Shaped like the kit's render (infra/render/bridges.ts) for matrix-qq 0.2.x.
const qqConfig = `
network:
  sign_servers: [https://sign.example.org/api/sign/30366]
bridge:
  command_prefix: "!qq"
  permissions:
    example.org: user
    "@owner:example.org": admin
database:
  type: postgres
  uri: postgres://synapse:pw@mx-postgres:5432/qqbridge?sslmode=disable
double_puppet:
  secrets:
    example.org: as_token:DP-token
homeserver:
  address: http://mx-synapse:8008
  domain: example.org
  software: standard
appservice:
  address: http://mx-qq:17777
  hostname: 0.0.0.0
  port: 17777
  id: qq
  bot:
    username: qqbot
    displayname: QQ bridge bot
  as_token: AS-qq
  hs_token: HS-qq
  username_template: qq_{{.}}
`

const qqRegistration = `
id: qq
url: http://mx-qq:17777
as_token: AS-qq
hs_token: HS-qq
sender_localpart: qqbot
namespaces:
  users:
    - regex: ^@qqbot:example\.org$
      exclusive: true
    - regex: ^@qq_.*:example\.org$
      exclusive: true
`

// Shaped like the kit's render for matrix-wechat 0.2.x (old mautrix layout).
const wechatConfig = `
homeserver:
  address: http://mx-synapse:8008
  domain: example.org
appservice:
  address: http://mx-wechat:17778
  hostname: 0.0.0.0
  port: 17778
  database:
    type: postgres
    uri: postgres://synapse:pw@mx-postgres:5432/wechatbridge?sslmode=disable
  id: wechat
  bot:
    username: wechatbot
    displayname: WeChat bridge bot
  as_token: AS-wx
  hs_token: HS-wx
bridge:
  username_template: wechat_{{.}}
  listen_address: 0.0.0.0:20002
  listen_secret: s3cret
  login_shared_secret_map:
    example.org: as_token:DP-token
  command_prefix: "!wechat"
  permissions:
    example.org: user
    "@owner:example.org": admin
`

// edit replaces one line of a YAML fixture (exactly once).
func edit(t *testing.T, doc, old, new string) string {
	t.Helper()
	if strings.Count(doc, old) != 1 {
		t.Fatalf("fixture edit: %q occurs %d times", old, strings.Count(doc, old))
	}
	return strings.Replace(doc, old, new, 1)
}

func wantFatal(t *testing.T, err error, exit int, msg string) {
	t.Helper()
	var fe *FatalError
	if !errors.As(err, &fe) {
		t.Fatalf("want FatalError %q, got %v", msg, err)
	}
	if fe.Exit != exit || fe.Msg != msg {
		t.Fatalf("want exit %d %q, got exit %d %q", exit, msg, fe.Exit, fe.Msg)
	}
}

func TestQQConfigAsRendered(t *testing.T) {
	c, err := ParseConfig(KindQQ, []byte(qqConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.BotUserID() != "@qqbot:example.org" || c.ListenAddr() != "0.0.0.0:17777" || c.CommandPrefix != "!qq" ||
		c.DatabaseURI != "postgres://synapse:pw@mx-postgres:5432/qqbridge?sslmode=disable" || c.HSToken != "HS-qq" {
		t.Fatalf("unexpected config %+v", c)
	}
}

func TestQQLegacyLayoutIsRefused(t *testing.T) {
	// matrix-qq 0.1.x layout: the database under appservice.
	legacy := edit(t, qqConfig, "  id: qq\n", "  id: qq\n  database:\n    type: postgres\n    uri: postgres://a:b@c/d\n")
	_, err := ParseConfig(KindQQ, []byte(legacy))
	wantFatal(t, err, 1, "Legacy bridge config detected, but hacky network config migrator is not set")
	var fe *FatalError
	errors.As(err, &fe)
	if !fe.Stderr {
		t.Fatal("upstream prints the legacy message on stderr")
	}
}

func TestQQValidationMessages(t *testing.T) {
	cases := []struct{ name, old, new, msg string }{
		{"no homeserver.address", "  address: http://mx-synapse:8008\n", "", "homeserver.address not configured"},
		{"no homeserver.domain", "  domain: example.org\n", "", "homeserver.domain not configured"},
		{"bad software", "  software: standard\n", "  software: synapse\n", "invalid value for homeserver.software (use `standard` if you don't know what the field is for)"},
		{"no as_token", "  as_token: AS-qq\n", "", "appservice.as_token not configured. Did you forget to generate the registration? "},
		{"no hs_token", "  hs_token: HS-qq\n", "", "appservice.hs_token not configured. Did you forget to generate the registration? "},
		{"no database.uri", "  uri: postgres://synapse:pw@mx-postgres:5432/qqbridge?sslmode=disable\n", "", "database.uri not configured"},
		{"example permissions only", "    example.org: user\n    \"@owner:example.org\": admin\n", "    \"*\": relay\n    example.com: user\n", "bridge.permissions not configured"},
		{"template without {{.}}", "  username_template: qq_{{.}}\n", "  username_template: qq_\n", "username template is missing user ID placeholder"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(KindQQ, []byte(edit(t, qqConfig, tc.old, tc.new)))
			wantFatal(t, err, 11, tc.msg)
		})
	}
}

func TestQQDefaultHostnameIsLoopback(t *testing.T) {
	// Upstream's example default: unreachable from Synapse's container.
	c, err := ParseConfig(KindQQ, []byte(edit(t, qqConfig, "  hostname: 0.0.0.0\n", "")))
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr() != "127.0.0.1:17777" {
		t.Fatalf("got %s", c.ListenAddr())
	}
}

func TestWechatConfigAsRendered(t *testing.T) {
	c, err := ParseConfig(KindWechat, []byte(wechatConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddress != "0.0.0.0:20002" || c.ListenSecret != "s3cret" || c.BotUserID() != "@wechatbot:example.org" ||
		c.DatabaseURI != "postgres://synapse:pw@mx-postgres:5432/wechatbridge?sslmode=disable" {
		t.Fatalf("unexpected config %+v", c)
	}
}

func TestWechatValidationMessages(t *testing.T) {
	newLayoutDB := edit(t, wechatConfig, "  database:\n    type: postgres\n    uri: postgres://synapse:pw@mx-postgres:5432/wechatbridge?sslmode=disable\n", "")
	newLayoutDB = "database:\n  uri: postgres://synapse:pw@mx-postgres:5432/wechatbridge\n" + newLayoutDB
	_, err := ParseConfig(KindWechat, []byte(newLayoutDB))
	wantFatal(t, err, 11, "appservice.database not configured")

	_, err = ParseConfig(KindWechat, []byte(edit(t, wechatConfig, "  listen_address: 0.0.0.0:20002\n", "")))
	wantFatal(t, err, 11, "bridge.listen_address not configured (stand-in check: the real bridge would fall back to its example 0.0.0.0:20002)")

	for _, secret := range []string{"", "  listen_secret: foobar\n"} {
		_, err = ParseConfig(KindWechat, []byte(edit(t, wechatConfig, "  listen_secret: s3cret\n", secret)))
		wantFatal(t, err, 11, "bridge.listen_secret not configured (stand-in check: the real bridge would accept agents with the example secret \"foobar\")")
	}

	_, err = ParseConfig(KindWechat, []byte(edit(t, wechatConfig, "  username_template: wechat_{{.}}\n", "  username_template: wechat_\n")))
	wantFatal(t, err, 10, "Failed to parse config: username template is missing user ID placeholder")

	_, err = ParseConfig(KindWechat, []byte(edit(t, wechatConfig, "  address: http://mx-synapse:8008\n", "  address: https://matrix.example.com\n")))
	wantFatal(t, err, 11, "homeserver.address not configured")
}

func TestUnparsableConfig(t *testing.T) {
	_, err := ParseConfig(KindQQ, []byte("homeserver: [unclosed\n"))
	var fe *FatalError
	if !errors.As(err, &fe) || fe.Exit != 10 || !strings.HasPrefix(fe.Msg, "Failed to parse config: ") {
		t.Fatalf("got %v", err)
	}
}

func TestRegistrationMatchingConfig(t *testing.T) {
	c, _ := ParseConfig(KindQQ, []byte(qqConfig))
	r, err := ParseRegistration([]byte(qqRegistration))
	if err != nil {
		t.Fatal(err)
	}
	mm, warnings := CheckRegistration(c, r)
	if len(mm) != 0 || len(warnings) != 0 {
		t.Fatalf("mismatches %v warnings %v", mm, warnings)
	}
}

func TestRegistrationMismatches(t *testing.T) {
	c, _ := ParseConfig(KindQQ, []byte(qqConfig))
	cases := []struct{ old, new, key string }{
		// What `-g` generates: a random sender_localpart (duo/matrix-wechat#33, duo/matrix-qq#34).
		{"sender_localpart: qqbot\n", "sender_localpart: 5Yf0aQpWmE3xKbT9cLrN2uVhJ7gZsD1o\n", "sender_localpart"},
		{"as_token: AS-qq\n", "as_token: other\n", "as_token"},
		{"hs_token: HS-qq\n", "hs_token: other\n", "hs_token"},
	}
	for _, tc := range cases {
		r, _ := ParseRegistration([]byte(edit(t, qqRegistration, tc.old, tc.new)))
		mm, _ := CheckRegistration(c, r)
		if len(mm) != 1 || mm[0].RegistrationKey != tc.key {
			t.Fatalf("%s: got %v", tc.key, mm)
		}
	}
}

func TestLoadFilesRefusesMismatchedTokens(t *testing.T) {
	dir := t.TempDir()
	cp, rp := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "registration.yaml")
	os.WriteFile(cp, []byte(wechatConfig), 0o600)
	reg := strings.NewReplacer("qq_", "wechat_", "qqbot", "wechatbot", "id: qq", "id: wechat", "mx-qq:17777", "mx-wechat:17778",
		"AS-qq", "AS-wx", "HS-qq", "HS-wx").Replace(qqRegistration)
	os.WriteFile(rp, []byte(reg), 0o600)
	if _, _, warnings, err := LoadFiles(KindWechat, cp, rp); err != nil || len(warnings) != 0 {
		t.Fatalf("matching files refused: %v %v", err, warnings)
	}
	os.WriteFile(rp, []byte(strings.Replace(reg, "hs_token: HS-wx", "hs_token: stale", 1)), 0o600)
	_, _, _, err := LoadFiles(KindWechat, cp, rp)
	var fe *FatalError
	if !errors.As(err, &fe) || fe.Exit != 1 || !strings.Contains(fe.Msg, "registration hs_token != config appservice.hs_token") {
		t.Fatalf("got %v", err)
	}
}

// STANDIN_RENDER_DIR=<out>/opt/matrix-kit/<stack> checks the kit's actual render
// (npx tsx infra/cli/render.ts --stack dev --out /tmp/render-dev).
func TestKitRender(t *testing.T) {
	dir := os.Getenv("STANDIN_RENDER_DIR")
	if dir == "" {
		t.Skip("STANDIN_RENDER_DIR not set")
	}
	for _, k := range []Kind{KindQQ, KindWechat} {
		c, _, warnings, err := LoadFiles(k, filepath.Join(dir, string(k), "config.yaml"), filepath.Join(dir, string(k), "registration.yaml"))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if len(warnings) != 0 {
			t.Fatalf("%s: %v", k, warnings)
		}
		t.Logf("%s: bot %s, listening on %s, homeserver %s", k, c.BotUserID(), c.ListenAddr(), c.HomeserverAddress)
	}
}
