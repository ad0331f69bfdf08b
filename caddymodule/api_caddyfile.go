package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
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
var parseAPIDirective = parseHandler[APIHandler]

// UnmarshalCaddyfile reads the directive and its optional block.
func (h *APIHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return eachOption(d, func(name string) error {
		switch name {
		case "bearer_token":
			return oneArg(d, &h.BearerToken)
		case "allow_from":
			var nets []string
			if err := someArgs(d, &nets); err != nil {
				return err
			}
			for _, a := range nets {
				if _, err := login.ParseNetwork(a); err != nil {
					return d.Errf("xmpp_auth_api: allow_from: %v", err)
				}
			}
			h.AllowFrom = append(h.AllowFrom, nets...)
			return nil
		case "default_timeout":
			return durationArg(d, &h.DefaultTimeout)
		case "language":
			return oneArg(d, &h.Language)
		case "messages":
			return oneArg(d, &h.Messages)
		}
		return d.Errf("xmpp_auth_api: unknown option %q (want bearer_token, allow_from, default_timeout, language or messages)", name)
	})
}

// Interface guards
var (
	_ caddy.Provisioner           = (*APIHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*APIHandler)(nil)
	_ caddyfile.Unmarshaler       = (*APIHandler)(nil)
)
