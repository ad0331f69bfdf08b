package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/xepauth/caddy-xepauth/internal/login"
	"github.com/xepauth/caddy-xepauth/xepauth"
)

func init() {
	caddy.RegisterModule(new(App))
}

// pool holds what outlives a config (shared.go), by server, domain and
// secret. It is the one package-level variable, as Caddy's UsagePool is
// meant to be: a reload provisions the new config before it cleans up the
// old one, and finds the running connection and its pending logins here
// instead of dialling a second time.
var pool = caddy.NewUsagePool()

// App is the xmpp_auth app: one XMPP component connection (XEP-0114) that
// every xmpp_auth handler of the config sends its confirmations through.
//
// Provisioning never dials and never fails because the XMPP server is down:
// the connection is made in the background, retried with backoff, and
// logins meanwhile get an "XMPP server unreachable" page.
type App struct {
	// Server is the host:port of the XMPP server's component port.
	// Default: 127.0.0.1:5347.
	Server string `json:"server,omitempty"`
	// Domain is the component's address, as declared in the XMPP server
	// (Prosody: Component "auth.example.org"). Required.
	Domain string `json:"domain,omitempty"`
	// Secret is the component's shared secret. Use a placeholder such as
	// {env.XMPP_COMPONENT_SECRET} or {file./path} to keep it out of the
	// config. Required.
	Secret string `json:"secret,omitempty"`
	// Name is the component's name in service discovery.
	Name string `json:"name,omitempty"`
	// KeepAlive is how often an idle connection is checked with a ping
	// through the server. Default: 30s.
	KeepAlive caddy.Duration `json:"keepalive,omitempty"`
	// Limits bound the logins, against prompt bombing: each one sends a
	// request to someone's XMPP client. They hold across every site of the
	// config, since a person bombarded from two sites is bombarded all
	// the same.
	Limits *Limits `json:"limits,omitempty"`

	key      string
	shared   *shared
	logger   *zap.Logger
	storage  certmagic.Storage
	metrics  *metrics
	lifetime time.Duration // the longest session lifetime of this config's gates
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "xmpp_auth",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision resolves placeholders and takes the shared connection for this
// server, domain and secret, creating it (not connected yet) if this is
// the first config to use it.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	cfg := xepauth.Config{
		Server:    repl.ReplaceKnown(a.Server, ""),
		Domain:    repl.ReplaceKnown(a.Domain, ""),
		Secret:    repl.ReplaceKnown(a.Secret, ""),
		Name:      a.Name,
		KeepAlive: time.Duration(a.KeepAlive),
	}
	if cfg.Server == "" {
		cfg.Server = "127.0.0.1:5347"
	}
	// The secret is part of the key, hashed, so that changing it in the
	// config makes a new connection; it never reaches a log.
	sum := sha256.Sum256([]byte(cfg.Secret))
	a.key = cfg.Server + "|" + cfg.Domain + "|" + hex.EncodeToString(sum[:8])
	val, _, err := pool.LoadOrNew(a.key, func() (caddy.Destructor, error) {
		return newShared(cfg, a.logger)
	})
	if err != nil {
		a.key = ""
		return fmt.Errorf("xmpp_auth: %w", err)
	}
	a.shared = val.(*shared)
	a.storage = ctx.Storage()
	if a.metrics, err = newMetrics(ctx.GetMetricsRegistry(), a.shared); err != nil {
		return fmt.Errorf("xmpp_auth: metrics: %w", err)
	}
	return nil
}

// gateLifetime records the session lifetime of a gate of this config, for
// the revocations' horizon that Start commits.
func (a *App) gateLifetime(d time.Duration) { a.lifetime = max(a.lifetime, d) }

// Limits are the login limits; a zero field keeps its default.
type Limits struct {
	// JIDOpen is how many logins may wait at once for one address from
	// one client network (an IPv4 address, an IPv6 /64). Default: 3.
	JIDOpen int `json:"jid_open,omitempty"`
	// JIDPerWindow is how many logins one address may be asked in Window
	// from one client network. Default: 10.
	JIDPerWindow int `json:"jid_per_window,omitempty"`
	// JIDAllOpen is how many logins may wait at once for one address from
	// every network together. Default: 10.
	JIDAllOpen int `json:"jid_all_open,omitempty"`
	// IPOpen is how many logins may wait at once for one client network:
	// an IPv4 address, or an IPv6 /64; an IPv6 /56 may have 4 times as
	// many, a /48 16 times. Default: 10.
	IPOpen int `json:"ip_open,omitempty"`
	// IPPerWindow is how many logins one client network may start in
	// Window, scaled as IPOpen for IPv6. Default: 30.
	IPPerWindow int `json:"ip_per_window,omitempty"`
	// Window is the span of the per-window limits. Default: 10m.
	Window caddy.Duration `json:"window,omitempty"`
	// MaxPending is how many logins may wait in all. Default: 10000.
	MaxPending int `json:"max_pending,omitempty"`
}

// resolve fills in the defaults.
func (l *Limits) resolve() login.Limits {
	out := login.DefaultLimits
	if l == nil {
		return out
	}
	for _, f := range []struct {
		v   int
		dst *int
	}{{l.JIDOpen, &out.PerJIDOpen}, {l.JIDPerWindow, &out.PerJIDWindow}, {l.JIDAllOpen, &out.PerJIDAllOpen}, {l.IPOpen, &out.PerIPOpen}, {l.IPPerWindow, &out.PerIPWindow}, {l.MaxPending, &out.MaxOpen}} {
		if f.v > 0 {
			*f.dst = f.v
		}
	}
	if l.Window > 0 {
		out.Window = time.Duration(l.Window)
	}
	return out
}

// Start starts connecting, in the background. It never fails for a
// network reason, so an XMPP server that is down does not stop Caddy.
func (a *App) Start() error {
	// What outlives the config takes this config's logger, limits,
	// storage and session lifetimes only now: Start runs once the whole
	// config has provisioned, so a reload that fails changes nothing in
	// the running one.
	a.shared.log.set(a.logger.Core())
	a.shared.svc.Commit(a.Limits.resolve(), a.storage, a.lifetime)
	a.shared.comp.Start()
	a.shared.svc.Start()
	return nil
}

// Stop does nothing: the connection belongs to the pool, and the next
// config may still use it. Cleanup lets go of it.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's hold on the connection; the last holder closes
// the connection.
func (a *App) Cleanup() error {
	if a.key == "" {
		return nil
	}
	_, err := pool.Delete(a.key)
	return err
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
