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
var parseDirective = parseHandler[Handler]

// UnmarshalCaddyfile reads the directive and its optional block.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return eachOption(d, func(name string) error {
		switch name {
		case "allow":
			return someArgs(d, &h.Allow)
		case "deny":
			return someArgs(d, &h.Deny)
		case "session_lifetime":
			return durationArg(d, &h.SessionLifetime)
		case "login_timeout":
			return durationArg(d, &h.LoginTimeout)
		case "user_header":
			return oneArg(d, &h.UserHeader)
		case "cookie_name":
			return oneArg(d, &h.CookieName)
		case "path_prefix":
			return oneArg(d, &h.PathPrefix)
		case "session_key", "session_keys":
			return someArgs(d, &h.SessionKeys)
		case "idle_timeout":
			return durationArg(d, &h.IdleTimeout)
		case "cookie_domain":
			return oneArg(d, &h.CookieDomain)
		case "cookie_path":
			return oneArg(d, &h.CookiePath)
		case "cookie_same_site":
			return oneArg(d, &h.CookieSameSite)
		case "site_name":
			return oneArg(d, &h.SiteName)
		case "language":
			return oneArg(d, &h.Language)
		case "messages":
			return oneArg(d, &h.Messages)
		case "templates":
			return oneArg(d, &h.Templates)
		case "pass_preflight":
			return flagArg(d, &h.PassPreflight)
		}
		return d.Errf("xmpp_auth: unknown option %q (want allow, deny, session_lifetime, login_timeout, user_header, "+
			"cookie_name, cookie_domain, cookie_path, cookie_same_site, path_prefix, session_key, idle_timeout, site_name, language, messages, templates or pass_preflight)", name)
	})
}

// parseHandler is the Caddyfile parser of a handler directive: a new H
// reads the directive itself.
func parseHandler[H any, PH interface {
	*H
	caddyhttp.MiddlewareHandler
	caddyfile.Unmarshaler
}](h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := PH(new(H))
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// eachOption reads a directive without arguments and hands each option of
// its block to option, by name, with the dispenser on it; option says why
// an option is wrong, or unknown.
func eachOption(d *caddyfile.Dispenser, option func(name string) error) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		if err := option(d.Val()); err != nil {
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

// someArgs appends the one or more arguments of the current option to dst.
func someArgs(d *caddyfile.Dispenser, dst *[]string) error {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("xmpp_auth: %s needs at least one value", name)
	}
	*dst = append(*dst, args...)
	return nil
}

// flagArg sets a flag option, which takes no value.
func flagArg(d *caddyfile.Dispenser, dst *bool) error {
	name := d.Val()
	if d.NextArg() {
		return d.Errf("xmpp_auth: %s takes no value, got %q", name, d.Val())
	}
	*dst = true
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
