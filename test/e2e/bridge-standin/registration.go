package main

// Reading registration.yaml, checking it against config.yaml (a stand-in check: the real
// bridges do not read the registration at run time, and a mismatch shows later as Synapse
// refusing them; see CheckRegistration), and loading both files. The config itself: config.go.

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Registration is what the stand-in reads from registration.yaml.
type Registration struct {
	ID              string
	URL             string
	ASToken         string
	HSToken         string
	SenderLocalpart string
	UserRegexes     []string
}

// ParseRegistration reads registration.yaml's text.
func ParseRegistration(data []byte) (*Registration, error) {
	t, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	r := &Registration{
		ID:              t.strOr("", "id"),
		URL:             t.strOr("", "url"),
		ASToken:         t.strOr("", "as_token"),
		HSToken:         t.strOr("", "hs_token"),
		SenderLocalpart: t.strOr("", "sender_localpart"),
	}
	if users, ok := t.node("namespaces", "users"); ok {
		list, _ := users.([]any)
		for _, u := range list {
			if m, ok := u.(map[string]any); ok {
				if re, ok := m["regex"].(string); ok {
					r.UserRegexes = append(r.UserRegexes, re)
				}
			}
		}
	}
	return r, nil
}

// RegistrationMismatch is one field where registration.yaml disagrees with config.yaml.
type RegistrationMismatch struct {
	RegistrationKey string
	ConfigKey       string
	Why             string
}

// CheckRegistration compares the registration Synapse was given with the
// bridge's config. Mismatches are fatal for the stand-in (the real bridges do not
// look at the registration at run time, and fail later in confusing ways:
// duo/matrix-wechat#33, duo/matrix-qq#34). Warnings are logged only.
func CheckRegistration(c *Config, r *Registration) (mismatches []RegistrationMismatch, warnings []string) {
	if r.ASToken != c.ASToken {
		mismatches = append(mismatches, RegistrationMismatch{"as_token", "appservice.as_token",
			"Synapse would reject every request of the bridge with M_UNKNOWN_TOKEN"})
	}
	if r.HSToken != c.HSToken {
		mismatches = append(mismatches, RegistrationMismatch{"hs_token", "appservice.hs_token",
			"the bridge would refuse every transaction Synapse pushes (403)"})
	}
	if r.SenderLocalpart != c.BotUsername {
		mismatches = append(mismatches, RegistrationMismatch{"sender_localpart", "appservice.bot.username",
			fmt.Sprintf("Synapse answers \"Application service has not registered this user (%s)\" (duo/matrix-wechat#33, duo/matrix-qq#34)", c.BotUserID())})
	}
	if r.ID != c.ID {
		warnings = append(warnings, fmt.Sprintf("registration id %q differs from appservice.id %q: the homeserver->bridge ping would address the wrong app service", r.ID, c.ID))
	}
	if c.AppserviceAddress != "" && r.URL != c.AppserviceAddress {
		warnings = append(warnings, fmt.Sprintf("registration url %q differs from appservice.address %q", r.URL, c.AppserviceAddress))
	}
	bot := c.BotUserID()
	ghost := "@" + strings.ReplaceAll(c.UsernameTemplate, "{{.}}", "1234567890") + ":" + c.HomeserverDomain
	botOK, ghostOK := false, false
	for _, re := range r.UserRegexes {
		rx, err := regexp.Compile(re)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("registration user regex %q does not compile: %v", re, err))
			continue
		}
		botOK = botOK || rx.MatchString(bot)
		ghostOK = ghostOK || rx.MatchString(ghost)
	}
	if !botOK {
		warnings = append(warnings, fmt.Sprintf("no registration user namespace matches the bot %s", bot))
	}
	if !ghostOK {
		warnings = append(warnings, fmt.Sprintf("no registration user namespace matches ghost users like %s", ghost))
	}
	return mismatches, warnings
}

// LoadFiles reads and checks both files. The returned error is a *FatalError.
func LoadFiles(kind Kind, configPath, registrationPath string) (*Config, *Registration, []string, error) {
	data, err := os.ReadFile(configPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil, &FatalError{Exit: 10, Msg: fmt.Sprintf("Failed to read config: %v (the real image's docker-run.sh would copy the example config there and exit)", err), Stderr: true}
		}
		return nil, nil, nil, &FatalError{Exit: 10, Msg: "Failed to read config: " + err.Error(), Stderr: true}
	}
	cfg, err := ParseConfig(kind, data)
	if err != nil {
		return nil, nil, nil, err
	}
	rdata, err := os.ReadFile(registrationPath)
	if err != nil {
		return nil, nil, nil, &FatalError{Exit: 1, Msg: fmt.Sprintf("stand-in: failed to read the registration: %v (the real image's docker-run.sh would generate one with a random sender_localpart and exit)", err)}
	}
	reg, err := ParseRegistration(rdata)
	if err != nil {
		return nil, nil, nil, &FatalError{Exit: 1, Msg: "stand-in: failed to parse the registration: " + err.Error()}
	}
	mismatches, warnings := CheckRegistration(cfg, reg)
	if len(mismatches) > 0 {
		parts := make([]string, 0, len(mismatches))
		for _, m := range mismatches {
			parts = append(parts, fmt.Sprintf("registration %s != config %s: %s", m.RegistrationKey, m.ConfigKey, m.Why))
		}
		return nil, nil, warnings, &FatalError{Exit: 1, Msg: "STAND-IN CHECK FAILED: registration.yaml does not match config.yaml: " + strings.Join(parts, "; ")}
	}
	return cfg, reg, warnings, nil
}
