package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// parseOIDCDirective reads the xmpp_auth_oidc directive:
//
//	xmpp_auth_oidc {
//		issuer <url>
//		client <id> {
//			name                     <name>
//			secret                   <secret>
//			redirect_uri             <uri>...
//			post_logout_redirect_uri <uri>...
//			allow                    <jid|domain>...
//			deny                     <jid|domain>...
//			refresh_tokens
//			trusted
//		}
//		subject                hash|jid
//		username               jid|localpart
//		email_domains          <domain>...
//		email_verified
//		access_token_lifetime  <duration>
//		id_token_lifetime      <duration>
//		refresh_token_lifetime <duration>
//		key_rotation           <duration>
//		login {
//			<the options of the xmpp_auth directive>
//		}
//	}
func parseOIDCDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(OIDCHandler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile reads the directive and its block.
func (h *OIDCHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "issuer":
			err = oneArg(d, &h.Issuer)
		case "client":
			var c OIDCClient
			if err = c.unmarshalCaddyfile(d); err == nil {
				h.Clients = append(h.Clients, c)
			}
		case "subject":
			err = oneArg(d, &h.Subject)
		case "username":
			err = oneArg(d, &h.Username)
		case "email_domains":
			err = someArgs(d, &h.EmailDomains)
		case "email_verified":
			err = flagArg(d, &h.EmailVerified)
		case "access_token_lifetime":
			err = durationArg(d, &h.AccessTokenLifetime)
		case "id_token_lifetime":
			err = durationArg(d, &h.IDTokenLifetime)
		case "refresh_token_lifetime":
			err = durationArg(d, &h.RefreshTokenLifetime)
		case "key_rotation":
			err = durationArg(d, &h.KeyRotation)
		case "login":
			h.Login = new(Handler)
			err = h.Login.UnmarshalCaddyfile(d.NewFromNextSegment())
		default:
			return d.Errf("xmpp_auth_oidc: unknown option %q (want issuer, client, subject, username, email_domains, email_verified, "+
				"access_token_lifetime, id_token_lifetime, refresh_token_lifetime, key_rotation or login)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if h.Issuer == "" {
		return d.Err(errNoIssuer.Error())
	}
	return nil
}

// unmarshalCaddyfile reads a client block.
func (c *OIDCClient) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.Err("xmpp_auth_oidc: client needs its id: client <id> { … }")
	}
	c.ID = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "name":
			err = oneArg(d, &c.Name)
		case "secret":
			err = oneArg(d, &c.Secret)
		case "redirect_uri", "redirect_uris":
			err = someArgs(d, &c.RedirectURIs)
		case "post_logout_redirect_uri", "post_logout_redirect_uris":
			err = someArgs(d, &c.PostLogoutRedirectURIs)
		case "allow":
			err = someArgs(d, &c.Allow)
		case "deny":
			err = someArgs(d, &c.Deny)
		case "refresh_tokens":
			err = flagArg(d, &c.RefreshTokens)
		case "trusted":
			err = flagArg(d, &c.Trusted)
		default:
			return d.Errf("xmpp_auth_oidc: client %s: unknown option %q (want name, secret, redirect_uri, post_logout_redirect_uri, allow, deny, refresh_tokens or trusted)", c.ID, d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// someArgs appends the one or more arguments of the current option to dst.
func someArgs(d *caddyfile.Dispenser, dst *[]string) error {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("%s needs at least one value", name)
	}
	*dst = append(*dst, args...)
	return nil
}

// flagArg sets a flag option, which takes no value.
func flagArg(d *caddyfile.Dispenser, dst *bool) error {
	name := d.Val()
	if d.NextArg() {
		return d.Errf("%s takes no value, got %q", name, d.Val())
	}
	*dst = true
	return nil
}

var _ caddyfile.Unmarshaler = (*OIDCHandler)(nil)
