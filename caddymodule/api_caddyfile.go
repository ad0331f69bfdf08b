package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/xepauth/caddy-xepauth/internal/login"
)

// parseAPIDirective sets up the handler from the directive:
//
//	xmpp_auth_api [<matcher>] {
//		bearer_token    <secret>
//		allow_from      <cidr>...
//		default_timeout <duration>
//		language        <lang>
//		messages        <file>
//	}
func parseAPIDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(APIHandler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile reads the directive and its optional block.
func (h *APIHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "bearer_token":
			err = oneArg(d, &h.BearerToken)
		case "allow_from":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if _, err := login.ParseNetwork(a); err != nil {
					return d.Errf("xmpp_auth_api: allow_from: %v", err)
				}
			}
			h.AllowFrom = append(h.AllowFrom, args...)
		case "default_timeout":
			err = durationArg(d, &h.DefaultTimeout)
		case "language":
			err = oneArg(d, &h.Language)
		case "messages":
			err = oneArg(d, &h.Messages)
		default:
			return d.Errf("xmpp_auth_api: unknown option %q (want bearer_token, allow_from, default_timeout, language or messages)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*APIHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*APIHandler)(nil)
	_ caddyfile.Unmarshaler       = (*APIHandler)(nil)
)
