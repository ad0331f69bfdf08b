package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
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
//			id_token_alg             RS256|ES256
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
var parseOIDCDirective = parseHandler[OIDCHandler]

// UnmarshalCaddyfile reads the directive and its block.
func (h *OIDCHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	err := eachOption(d, func(name string) error {
		switch name {
		case "issuer":
			return oneArg(d, &h.Issuer)
		case "client":
			var c OIDCClient
			err := c.unmarshalCaddyfile(d)
			h.Clients = append(h.Clients, c)
			return err
		case "subject":
			return oneArg(d, &h.Subject)
		case "username":
			return oneArg(d, &h.Username)
		case "email_domains":
			return someArgs(d, &h.EmailDomains)
		case "email_verified":
			return flagArg(d, &h.EmailVerified)
		case "access_token_lifetime":
			return durationArg(d, &h.AccessTokenLifetime)
		case "id_token_lifetime":
			return durationArg(d, &h.IDTokenLifetime)
		case "refresh_token_lifetime":
			return durationArg(d, &h.RefreshTokenLifetime)
		case "key_rotation":
			return durationArg(d, &h.KeyRotation)
		case "login":
			if h.Login != nil {
				return d.Err("xmpp_auth_oidc: login given twice; put all its options in one block")
			}
			h.Login = new(Handler)
			return h.Login.UnmarshalCaddyfile(d.NewFromNextSegment())
		}
		return d.Errf("xmpp_auth_oidc: unknown option %q (want issuer, client, subject, username, email_domains, email_verified, "+
			"access_token_lifetime, id_token_lifetime, refresh_token_lifetime, key_rotation or login)", name)
	})
	if err == nil && h.Issuer == "" {
		err = d.Err(errNoIssuer.Error())
	}
	return err
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
		if err := c.option(d); err != nil {
			return err
		}
	}
	return nil
}

// option reads one option of a client block.
func (c *OIDCClient) option(d *caddyfile.Dispenser) error {
	switch d.Val() {
	case "name":
		return oneArg(d, &c.Name)
	case "secret":
		return oneArg(d, &c.Secret)
	case "redirect_uri", "redirect_uris":
		return someArgs(d, &c.RedirectURIs)
	case "post_logout_redirect_uri", "post_logout_redirect_uris":
		return someArgs(d, &c.PostLogoutRedirectURIs)
	case "allow":
		return someArgs(d, &c.Allow)
	case "deny":
		return someArgs(d, &c.Deny)
	case "refresh_tokens":
		return flagArg(d, &c.RefreshTokens)
	case "id_token_alg":
		return oneArg(d, &c.IDTokenAlg)
	case "trusted":
		return flagArg(d, &c.Trusted)
	}
	return d.Errf("xmpp_auth_oidc: client %s: unknown option %q (want name, secret, redirect_uri, post_logout_redirect_uri, allow, deny, refresh_tokens, id_token_alg or trusted)", c.ID, d.Val())
}

var _ caddyfile.Unmarshaler = (*OIDCHandler)(nil)
