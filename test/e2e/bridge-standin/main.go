// Command bridge-standin is the matrix kit's END-TO-END TEST STAND-IN for the
// QQ and WeChat bridges (github.com/duo/matrix-qq 0.2.1 and
// github.com/duo/matrix-wechat 0.2.4). It is NOT either bridge and bridges no
// messages: the real bridges cannot be built here (the Go module proxy refuses
// them), so this small program, written for the kit and sharing no code with
// them, reads the config.yaml and registration.yaml the kit renders and
// behaves like the real bridge where the e2e test looks:
//
//   - refuses the files where the real bridge would, with the real messages
//     (and, stricter than upstream, refuses a registration whose as_token,
//     hs_token or sender_localpart disagree with config.yaml);
//   - connects to the bridge's PostgreSQL database and writes a table;
//   - talks to the homeserver with the as_token as @<bot>:<domain> (versions,
//     whoami, the homeserver->bridge ping, registration, display name);
//   - serves the app service API (transactions, ping, live/ready), joins rooms
//     it is invited to and answers help/login/logout/ping;
//   - WeChat only: the agent WebSocket listener with matrix-wechat's
//     "Basic <listen_secret>" check.
//
// Mode: STANDIN_KIND=qq|wechat (baked into each image). Flags -c and -r like
// mautrix's. Exit codes follow mautrix where there is one (10 unreadable
// config, 11 invalid config, 13 homeserver cannot reach the bridge, 14
// database, 16/17 homeserver refuses the bot); 1 for the rest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const standinVersion = "1"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("bridge-standin", flag.ContinueOnError)
	var configPath, registrationPath, kindFlag string
	var version, noUpdate bool
	for _, n := range []string{"c", "config"} {
		fs.StringVar(&configPath, n, "/data/config.yaml", "config file")
	}
	for _, n := range []string{"r", "registration"} {
		fs.StringVar(&registrationPath, n, "/data/registration.yaml", "app service registration file")
	}
	for _, n := range []string{"n", "no-update"} {
		fs.BoolVar(&noUpdate, n, false, "don't save the upgraded config to disk")
	}
	for _, n := range []string{"v", "version"} {
		fs.BoolVar(&version, n, false, "print the version and exit")
	}
	fs.StringVar(&kindFlag, "kind", "", "qq or wechat (default: $STANDIN_KIND)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if kindFlag == "" {
		kindFlag = os.Getenv("STANDIN_KIND")
	}
	kind, err := ParseKind(kindFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bridge-standin:", err)
		return 2
	}
	if version {
		fmt.Printf("matrix-%s stand-in %s (NOT the real bridge; stands in for %s)\n", kind, standinVersion, kind.Upstream())
		return 0
	}
	log := stdoutLogger(kind)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return start(ctx, kind, configPath, registrationPath, noUpdate, log)
}

func fatal(log *Logger, err error) int {
	var fe *FatalError
	if !errors.As(err, &fe) {
		log.Fatal(err.Error(), nil)
		return 1
	}
	if fe.Stderr {
		fmt.Fprintln(os.Stderr, fe.Msg)
	}
	if fe.Exit == 11 {
		log.Fatal("Configuration error", F{"error": fe.Msg})
		log.Info("See https://docs.mau.fi/faq/field-unconfigured for more info", nil)
	} else {
		log.Fatal(fe.Msg, nil)
	}
	return fe.Exit
}

func start(ctx context.Context, kind Kind, configPath, registrationPath string, noUpdate bool, log *Logger) int {
	// The test-only signals are caught from the first instant: uncaught, SIGUSR1/2 would kill a
	// bridge that is still starting (as a test may send them right after a restart).
	usr1 := make(chan os.Signal, 1)
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	signal.Notify(usr2, syscall.SIGUSR2)
	log.Info("Starting: this is a STAND-IN for the e2e test, NOT the real bridge", F{"stands_in_for": kind.Upstream(), "config": configPath, "registration": registrationPath})

	if kind == KindQQ {
		if err := dropPrivileges(filepath.Dir(configPath), envID("UID", 1337), envID("GID", envID("UID", 1337)), log); err != nil {
			log.Fatal("Failed to switch to the bridge user", F{"error": err})
			return 1
		}
	}

	cfg, _, warnings, err := LoadFiles(kind, configPath, registrationPath)
	for _, w := range warnings {
		log.Warn("Registration check: "+w, nil)
	}
	if err != nil {
		return fatal(log, err)
	}
	log.Info("Config and registration read", F{"bot": cfg.BotUserID(), "homeserver": cfg.HomeserverAddress, "appservice_listen": cfg.ListenAddr()})
	rewriteConfig(kind, configPath, noUpdate, log)

	db, err := OpenDatabase(ctx, cfg.DatabaseURI, kind, log)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("Stopped before the database was reachable", nil)
			return 0
		}
		return databaseUnreachable(kind, cfg.DatabaseURI, err, log)
	}
	defer db.Close()
	log.Info("Database ready: standin_state and user tables written", F{"uri": redactURI(cfg.DatabaseURI)})
	dpServers := make([]string, 0, len(cfg.DoublePuppetSecrets))
	for server, secret := range cfg.DoublePuppetSecrets {
		dpServers = append(dpServers, fmt.Sprintf("%s (as_token form: %t)", server, strings.HasPrefix(secret, "as_token:")))
	}
	log.Info("Double puppeting secrets read", F{"servers": dpServers})

	b := NewBridge(cfg, log, NewUsers(sqlRows{db, kind}, log))
	b.wedgeIfAsked(filepath.Dir(configPath))
	servers, err := b.listen()
	if err != nil {
		log.Fatal("Error in listener", F{"error": err})
		return 1
	}
	defer shutdown(servers, b, log)

	workerCtx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	go b.RunWorker(workerCtx)

	if code := b.ensureConnection(ctx); code != 0 || ctx.Err() != nil {
		return code
	}
	b.setupBot(ctx)
	if ctx.Err() != nil {
		return 0
	}
	b.SetReady()
	log.Info("Stand-in bridge started (NOT the real bridge)", F{"bot": cfg.BotUserID()})
	b.wedgeOn(ctx, usr1)
	b.toggleLoginOn(ctx, usr2)
	<-ctx.Done()
	log.Info("Received stop signal, shutting down", nil)
	return 0
}

// listen opens the app service listener and, for WeChat, the agent listener.
func (b *Bridge) listen() ([]*http.Server, error) {
	var servers []*http.Server
	serve := func(addr string, h http.Handler, what string) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s on %s: %w", what, addr, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
		servers = append(servers, srv)
		b.Log.Info("Starting "+what, F{"address": addr})
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				b.Log.Error("Error in "+what, F{"error": err})
			}
		}()
		return nil
	}
	if err := serve(b.Cfg.ListenAddr(), b.Handler(), "app service HTTP listener"); err != nil {
		return servers, err
	}
	if b.Agents != nil {
		if err := serve(b.Cfg.ListenAddress, b.Agents, "WeChat agent WebSocket listener"); err != nil {
			return servers, err
		}
	}
	return servers, nil
}

func shutdown(servers []*http.Server, b *Bridge, log *Logger) {
	b.Agents.CloseAll()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(ctx)
	}
	log.Info("Stopped", nil)
}

// databaseUnreachable ends the start as each real bridge does when PostgreSQL does not answer:
// matrix-qq (mautrix-go v0.23.0's LogDBUpgradeErrorAndExit) exits 15; matrix-wechat (mautrix-go
// v0.16.2's upgrade) panics on the first failed query, which exits 2.
func databaseUnreachable(kind Kind, uri string, err error, log *Logger) int {
	if kind == KindWechat {
		panic(fmt.Errorf("failed to check if table exists: %w", err))
	}
	log.Fatal("Failed to initialize database", F{"uri": redactURI(uri), "error": err})
	return 15
}
