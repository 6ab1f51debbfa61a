package main

// Reading and validating the bridge's config.yaml (registration.yaml: registration.go).
//
// The stand-in reads the files the kit renders for the real bridges and refuses
// them where the real bridges would. The error texts are the real bridges'
// (mautrix-go v0.23.0 bridgev2 for matrix-qq 0.2.1, mautrix-go v0.16.2 `bridge`
// plus matrix-wechat's own config for matrix-wechat 0.2.4); the checks marked
// "stand-in check" are stricter than the real bridges and say so in their text.
//
// The real bridges merge the file over their example config, so a missing key
// takes the example's value; the stand-in applies the same example values
// (see exampleDefaults) so that, e.g., a missing appservice.hostname on QQ
// becomes 127.0.0.1 exactly as it would upstream.

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is which bridge the stand-in plays.
type Kind string

const (
	KindQQ     Kind = "qq"
	KindWechat Kind = "wechat"
)

// Network is the human name of the chat network.
func (k Kind) Network() string {
	if k == KindQQ {
		return "QQ"
	}
	return "WeChat"
}

// Upstream names the real bridge the stand-in replaces.
func (k Kind) Upstream() string {
	if k == KindQQ {
		return "github.com/duo/matrix-qq 0.2.1"
	}
	return "github.com/duo/matrix-wechat 0.2.4"
}

// ParseKind accepts "qq" or "wechat".
func ParseKind(s string) (Kind, error) {
	switch Kind(strings.ToLower(strings.TrimSpace(s))) {
	case KindQQ:
		return KindQQ, nil
	case KindWechat:
		return KindWechat, nil
	}
	return "", fmt.Errorf("STANDIN_KIND must be qq or wechat, got %q", s)
}

// FatalError is a startup failure: Exit is the process exit code, Msg the
// message the real bridge prints for the same failure.
type FatalError struct {
	Exit int
	Msg  string
	// Stderr: the real bridge prints this one bare on stderr (before its logger exists).
	Stderr bool
}

func (e *FatalError) Error() string { return e.Msg }

// Config is what the stand-in uses from config.yaml.
type Config struct {
	Kind Kind

	HomeserverAddress  string
	HomeserverDomain   string
	HomeserverSoftware string

	AppserviceAddress string
	Hostname          string
	Port              int
	ID                string
	BotUsername       string
	BotDisplayname    string
	BotAvatar         string
	ASToken           string
	HSToken           string
	UsernameTemplate  string

	DatabaseURI string

	CommandPrefix string
	Permissions   map[string]string
	// Double puppeting secrets by server name: QQ's double_puppet.secrets, WeChat's
	// bridge.login_shared_secret_map ("as_token:<token>" is the app service form).
	DoublePuppetSecrets map[string]string

	// WeChat only: the agent's WebSocket listener.
	ListenAddress string
	ListenSecret  string
}

// BotUserID is @<bot.username>:<homeserver.domain>.
func (c *Config) BotUserID() string { return "@" + c.BotUsername + ":" + c.HomeserverDomain }

// ListenAddr is appservice.hostname:appservice.port.
func (c *Config) ListenAddr() string {
	host := c.Hostname
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(c.Port)
}

// Placeholder values of the real example configs: a value equal to one of
// these is "not configured" for the real bridges.
const (
	tokenPlaceholder     = "This value is generated when generating the registration"
	dbURIPlaceholder     = "postgres://user:password@host/database?sslmode=disable"
	qqAddressExample     = "http://example.localhost:8008"
	wechatAddressExample = "https://matrix.example.com"
	domainExample        = "example.com"
	wechatSecretExample  = "foobar"
)

type defaults struct {
	address, hostname, id, bot, displayname, template, prefix string
	port                                                      int
	permissions                                               map[string]string
}

func exampleDefaults(k Kind) defaults {
	if k == KindQQ {
		// mautrix-go v0.23.0 bridgev2/matrix/mxmain/example-config.yaml with matrix-qq's names.
		return defaults{
			address: qqAddressExample, hostname: "127.0.0.1", port: 17777, id: "qq", bot: "qqbot",
			displayname: "Matrix QQ bridge bot", template: "qq_{{.}}", prefix: "!qq",
			permissions: map[string]string{"*": "relay", "example.com": "user", "@admin:example.com": "admin"},
		}
	}
	// matrix-wechat 0.2.4 example-config.yaml.
	return defaults{
		address: wechatAddressExample, hostname: "0.0.0.0", port: 17778, id: "wechat", bot: "wechatbot",
		displayname: "WeChat bridge bot", template: "_wechat_{{.}}", prefix: "!wechat",
		permissions: map[string]string{"example.com": "user", "@admin:example.com": "admin"},
	}
}

// ParseConfig reads config.yaml's text for the given kind and validates it the
// way the real bridge does, returning a *FatalError on refusal.
func ParseConfig(kind Kind, data []byte) (*Config, error) {
	t, err := parseYAML(data)
	if err != nil {
		return nil, &FatalError{Exit: 10, Msg: "Failed to parse config: " + err.Error(), Stderr: true}
	}
	d := exampleDefaults(kind)
	c := &Config{Kind: kind}

	if kind == KindQQ {
		// mautrix-go v0.23.0 bridgeconfig: a string at appservice.database.uri (Go
		// bridges' old layout) or at appservice.database (Python bridges' old layout)
		// means a legacy config, and matrix-qq sets no legacy network migrator.
		_, goLegacy := t.str("appservice", "database", "uri")
		_, pyLegacy := t.str("appservice", "database")
		if goLegacy || pyLegacy {
			return nil, &FatalError{Exit: 1, Msg: "Legacy bridge config detected, but hacky network config migrator is not set", Stderr: true}
		}
	}

	c.HomeserverAddress = t.strOr(d.address, "homeserver", "address")
	c.HomeserverDomain = t.strOr(domainExample, "homeserver", "domain")
	c.HomeserverSoftware = t.strOr("standard", "homeserver", "software")
	c.AppserviceAddress = t.strOr("", "appservice", "address")
	c.Hostname = t.strOr(d.hostname, "appservice", "hostname")
	c.Port = d.port
	if p, ok := t.str("appservice", "port"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, &FatalError{Exit: 10, Msg: fmt.Sprintf("Failed to parse config: appservice.port %q is not a port number", p), Stderr: true}
		}
		c.Port = n
	}
	c.ID = t.strOr(d.id, "appservice", "id")
	c.BotUsername = t.strOr(d.bot, "appservice", "bot", "username")
	c.BotDisplayname = t.strOr(d.displayname, "appservice", "bot", "displayname")
	c.BotAvatar = t.strOr("", "appservice", "bot", "avatar")
	c.ASToken = t.strOr(tokenPlaceholder, "appservice", "as_token")
	c.HSToken = t.strOr(tokenPlaceholder, "appservice", "hs_token")
	c.CommandPrefix = t.strOr(d.prefix, "bridge", "command_prefix")

	c.Permissions = d.permissions
	if p, ok := t.node("bridge", "permissions"); ok {
		m, isMap := p.(map[string]any)
		if !isMap {
			return nil, &FatalError{Exit: 10, Msg: "Failed to parse config: bridge.permissions is not a map", Stderr: true}
		}
		c.Permissions = map[string]string{}
		for k, v := range m {
			c.Permissions[k] = fmt.Sprint(v)
		}
	}

	secretsPath := []string{"bridge", "login_shared_secret_map"}
	if kind == KindQQ {
		secretsPath = []string{"double_puppet", "secrets"}
	}
	c.DoublePuppetSecrets = map[string]string{}
	if m, ok := t.node(secretsPath...); ok {
		if mm, isMap := m.(map[string]any); isMap {
			for k, v := range mm {
				c.DoublePuppetSecrets[k] = fmt.Sprint(v)
			}
		}
	}

	if kind == KindQQ {
		c.UsernameTemplate = t.strOr(d.template, "appservice", "username_template")
		c.DatabaseURI = t.strOr(dbURIPlaceholder, "database", "uri")
	} else {
		c.UsernameTemplate = t.strOr(d.template, "bridge", "username_template")
		c.DatabaseURI = t.strOr(dbURIPlaceholder, "appservice", "database", "uri")
		c.ListenAddress = t.strOr("", "bridge", "listen_address")
		c.ListenSecret = t.strOr("", "bridge", "listen_secret")
		// matrix-wechat checks the username template while parsing the file.
		if !templateHasPlaceholder(c.UsernameTemplate) {
			return nil, &FatalError{Exit: 10, Msg: "Failed to parse config: username template is missing user ID placeholder", Stderr: true}
		}
	}

	if err := c.validate(d); err != nil {
		return nil, err
	}
	return c, nil
}

func templateHasPlaceholder(tpl string) bool {
	// The real bridges execute the Go template with "1234567890" and look for it;
	// the only templates the bridges document use {{.}}.
	return strings.Contains(tpl, "{{.}}")
}

var allowedSoftware = map[string]bool{"standard": true, "asmux": true, "hungry": true}

func permissionsConfigured(p map[string]string) bool {
	example := 0
	for _, k := range []string{"*", "example.com", "@admin:example.com"} {
		if _, ok := p[k]; ok {
			example++
		}
	}
	return len(p) > example
}

func configErr(msg string) error { return &FatalError{Exit: 11, Msg: msg} }

func (c *Config) validate(d defaults) error {
	exampleAddress := qqAddressExample
	if c.Kind == KindWechat {
		exampleAddress = wechatAddressExample
	}
	switch {
	case c.HomeserverAddress == "" || c.HomeserverAddress == exampleAddress:
		return configErr("homeserver.address not configured")
	case c.HomeserverDomain == "" || c.HomeserverDomain == domainExample:
		return configErr("homeserver.domain not configured")
	case !allowedSoftware[c.HomeserverSoftware]:
		return configErr("invalid value for homeserver.software (use `standard` if you don't know what the field is for)")
	case c.ASToken == "" || c.ASToken == tokenPlaceholder:
		return configErr("appservice.as_token not configured. Did you forget to generate the registration? ")
	case c.HSToken == "" || c.HSToken == tokenPlaceholder:
		return configErr("appservice.hs_token not configured. Did you forget to generate the registration? ")
	}
	if c.Kind == KindQQ {
		switch {
		case c.DatabaseURI == "" || c.DatabaseURI == dbURIPlaceholder:
			return configErr("database.uri not configured")
		case !permissionsConfigured(c.Permissions):
			return configErr("bridge.permissions not configured")
		case !templateHasPlaceholder(c.UsernameTemplate):
			return configErr("username template is missing user ID placeholder")
		}
	} else {
		switch {
		case c.DatabaseURI == "" || c.DatabaseURI == dbURIPlaceholder:
			return configErr("appservice.database not configured")
		case !permissionsConfigured(c.Permissions):
			return configErr("bridge.permissions not configured")
		case c.ListenAddress == "":
			return configErr("bridge.listen_address not configured (stand-in check: the real bridge would fall back to its example 0.0.0.0:20002)")
		case c.ListenSecret == "" || c.ListenSecret == wechatSecretExample:
			return configErr("bridge.listen_secret not configured (stand-in check: the real bridge would accept agents with the example secret \"foobar\")")
		}
	}
	if c.BotUsername == "" {
		return configErr("appservice.bot.username not configured (stand-in check)")
	}
	if c.Hostname == "" {
		return configErr("appservice.hostname not configured (stand-in check)")
	}
	return nil
}
