package caddymodule

import (
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("xmpp_auth", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("xmpp_auth", parseDirective)
	httpcaddyfile.RegisterDirectiveOrder("xmpp_auth", httpcaddyfile.Before, "basic_auth")
}

// parseGlobalOption sets up the app from the global option:
//
//	xmpp_auth {
//		server    <host:port>
//		domain    <component domain>
//		secret    <secret>
//		name      <disco name>
//		keepalive <duration>
//		limits {
//			jid         <open> <per window>
//			ip          <open> <per window>
//			window      <duration>
//			max_pending <n>
//		}
//	}
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("xmpp_auth global option given twice; one component connection serves every site")
	}
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "xmpp_auth", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile reads the global option's block.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "server":
			err = oneArg(d, &a.Server)
		case "domain":
			err = oneArg(d, &a.Domain)
		case "secret":
			err = oneArg(d, &a.Secret)
		case "name":
			err = oneArg(d, &a.Name)
		case "keepalive":
			err = durationArg(d, &a.KeepAlive)
		case "limits":
			a.Limits = new(Limits)
			err = a.Limits.unmarshalCaddyfile(d)
		default:
			return d.Errf("xmpp_auth: unknown option %q (want server, domain, secret, name, keepalive or limits)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unmarshalCaddyfile reads the limits block of the global option.
func (l *Limits) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "jid":
			err = intArgs(d, &l.JIDOpen, &l.JIDPerWindow)
		case "jid_all":
			err = intArgs(d, &l.JIDAllOpen)
		case "ip":
			err = intArgs(d, &l.IPOpen, &l.IPPerWindow)
		case "window":
			err = durationArg(d, &l.Window)
		case "max_pending":
			err = intArgs(d, &l.MaxPending)
		default:
			return d.Errf("xmpp_auth: limits: unknown option %q (want jid, jid_all, ip, window or max_pending)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// intArgs reads exactly len(dst) positive integers.
func intArgs(d *caddyfile.Dispenser, dst ...*int) error {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) != len(dst) {
		return d.Errf("xmpp_auth: %s takes %d number(s), got %d", name, len(dst), len(args))
	}
	for i, a := range args {
		n, err := strconv.Atoi(a)
		if err != nil || n <= 0 {
			return d.Errf("xmpp_auth: %s: %q is not a positive whole number", name, a)
		}
		*dst[i] = n
	}
	return nil
}

// parseDirective sets up the handler from the directive:
//
//	xmpp_auth [<matcher>] {
//		allow            <jid|domain>...
//		deny             <jid|domain>...
//		session_lifetime <duration>
//		login_timeout    <duration>
//		user_header      <header>
//		cookie_name      <name>
//		path_prefix      <path>
//		session_key      <secret>...
//		idle_timeout     <duration>
//		cookie_domain    <domain>
//		cookie_path      <path>
//		cookie_same_site lax|strict|none
//		site_name        <name>
//		language         <lang>
//		messages         <file>
//		templates        <folder>
//		pass_preflight
//	}
func parseDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile reads the directive and its optional block.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "allow":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Allow = append(h.Allow, args...)
		case "deny":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Deny = append(h.Deny, args...)
		case "session_lifetime":
			err = durationArg(d, &h.SessionLifetime)
		case "login_timeout":
			err = durationArg(d, &h.LoginTimeout)
		case "user_header":
			err = oneArg(d, &h.UserHeader)
		case "cookie_name":
			err = oneArg(d, &h.CookieName)
		case "path_prefix":
			err = oneArg(d, &h.PathPrefix)
		case "session_key", "session_keys":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.SessionKeys = append(h.SessionKeys, args...)
		case "idle_timeout":
			err = durationArg(d, &h.IdleTimeout)
		case "cookie_domain":
			err = oneArg(d, &h.CookieDomain)
		case "cookie_path":
			err = oneArg(d, &h.CookiePath)
		case "cookie_same_site":
			err = oneArg(d, &h.CookieSameSite)
		case "site_name":
			err = oneArg(d, &h.SiteName)
		case "language":
			err = oneArg(d, &h.Language)
		case "messages":
			err = oneArg(d, &h.Messages)
		case "templates":
			err = oneArg(d, &h.Templates)
		case "pass_preflight":
			if d.NextArg() {
				return d.Errf("xmpp_auth: pass_preflight takes no value, got %q", d.Val())
			}
			h.PassPreflight = true
		default:
			return d.Errf("xmpp_auth: unknown option %q (want allow, deny, session_lifetime, login_timeout, user_header, "+
				"cookie_name, cookie_domain, cookie_path, cookie_same_site, path_prefix, session_key, idle_timeout, site_name, language, messages, templates or pass_preflight)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// oneArg reads the single argument of the current option into dst.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	if !d.NextArg() {
		return d.Errf("xmpp_auth: %s needs a value", name)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("xmpp_auth: %s takes one value, got another: %q", name, d.Val())
	}
	return nil
}

// durationArg reads a duration such as 90s, 2m or 1d.
func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("xmpp_auth: %s %q: %v", name, s, err)
	}
	if v <= 0 {
		return d.Errf("xmpp_auth: %s must be positive, got %s", name, time.Duration(v))
	}
	*dst = caddy.Duration(v)
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
)
