package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/xepauth/caddy-xepauth/internal/openid"
)

func init() {
	caddy.RegisterModule(new(OIDCHandler))
	httpcaddyfile.RegisterHandlerDirective("xmpp_auth_oidc", parseOIDCDirective)
	httpcaddyfile.RegisterDirectiveOrder("xmpp_auth_oidc", httpcaddyfile.Before, "basic_auth")
}

// OIDCHandler is an OpenID Connect provider whose login is the gate's: an
// application (Grafana, Gitea, Nextcloud, oauth2-proxy, …) sends its
// visitor to the issuer, who logs in with their XMPP address and an
// approval in their own XMPP client, as on a gated site, and comes back
// with an ID token naming them. It serves the paths under the issuer's
// (discovery, keys, authorize, token, userinfo, revoke, end_session) and
// the login's pages, and hands every other request to the next handler.
type OIDCHandler struct {
	// Issuer is the provider's URL, exactly as the applications are given
	// it: https://host or https://host/path, no trailing slash. It is
	// never taken from a request. Required.
	Issuer string `json:"issuer,omitempty"`
	// Clients are the applications that may log visitors in. At least one.
	Clients []OIDCClient `json:"clients,omitempty"`
	// Subject is what the sub claim is: "hash" (default), a keyed hash of
	// the bare JID, stable and opaque; or "jid", the bare JID itself.
	Subject string `json:"subject,omitempty"`
	// Username is what preferred_username is: "jid" (default), the bare
	// JID, or "localpart", the part before the @.
	Username string `json:"username,omitempty"`
	// EmailDomains are the XMPP domains whose addresses are mailboxes
	// too; only their users get an email claim. Default: none.
	EmailDomains []string `json:"email_domains,omitempty"`
	// EmailVerified marks those emails verified. Say so only when mail to
	// an address reaches exactly that XMPP account's owner: applications
	// link accounts by a verified email. Default: false.
	EmailVerified bool `json:"email_verified,omitempty"`
	// AccessTokenLifetime is how long an access token is valid. Default: 10m.
	AccessTokenLifetime caddy.Duration `json:"access_token_lifetime,omitempty"`
	// IDTokenLifetime is how long an ID token is valid. Default: 1h.
	IDTokenLifetime caddy.Duration `json:"id_token_lifetime,omitempty"`
	// RefreshTokenLifetime is how long an unused refresh token is valid;
	// each use gives a new one. Default: 720h.
	RefreshTokenLifetime caddy.Duration `json:"refresh_token_lifetime,omitempty"`
	// KeyRotation is how long a signing key signs before the next takes
	// over. Default: 720h.
	KeyRotation caddy.Duration `json:"key_rotation,omitempty"`
	// Login holds the options of the login, as the xmpp_auth handler
	// has them (allow, deny, session_lifetime, login_timeout, cookies,
	// language, …). A visitor with a session on the issuer's host is not
	// asked again.
	Login *Handler `json:"login,omitempty"`

	provider *openid.Provider
	storeKey string
}

// OIDCClient is an application that logs visitors in through the
// provider.
type OIDCClient struct {
	// ID is the client_id. Required.
	ID string `json:"id,omitempty"`
	// Name names the application to the visitor. Default: the ID.
	Name string `json:"name,omitempty"`
	// Secret is a confidential client's client_secret, best a placeholder
	// ({env.GRAFANA_OIDC_SECRET}). None: a public client (a single-page
	// or native application), which must use PKCE with S256.
	Secret string `json:"secret,omitempty"`
	// RedirectURIs are where the codes go, compared exactly. At least one.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// PostLogoutRedirectURIs are where a logout may return, compared
	// exactly.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// Allow and Deny are who may log in to this application, on top of
	// the login's own rules: bare JIDs and domains; Deny wins.
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
	// RefreshTokens lets the application have refresh tokens (it asks
	// with the offline_access scope).
	RefreshTokens bool `json:"refresh_tokens,omitempty"`
	// IDTokenAlg is what the application's ID tokens are signed with:
	// RS256 (default), which every application verifies, or ES256.
	IDTokenAlg string `json:"id_token_alg,omitempty"`
	// Trusted marks the operator's own application: its visitors are not
	// asked whether it may know who they are. Any other is asked about,
	// once per visitor (and again for more scopes, or prompt=consent).
	Trusted bool `json:"trusted,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (*OIDCHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.xmpp_auth_oidc",
		New: func() caddy.Module { return new(OIDCHandler) },
	}
}

// oidcStore is a provider's requests and tokens in the app's pool, so that
// a reload keeps them.
type oidcStore struct{ *openid.Store }

// Destruct implements caddy.Destructor: the store holds nothing to close.
func (oidcStore) Destruct() error { return nil }

// Provision makes the provider: its keys (kept in Caddy's storage), its
// clients and its login; it never dials.
func (h *OIDCHandler) Provision(ctx caddy.Context) error {
	app, err := theApp(ctx, "xmpp_auth_oidc handler")
	if err != nil {
		return err
	}
	if h.Login == nil {
		h.Login = new(Handler)
	}
	gate, err := h.Login.newGate(ctx, app)
	if err != nil {
		return fmt.Errorf("xmpp_auth_oidc handler: login: %w", err)
	}
	repl := caddy.NewReplacer()
	cfg := openid.Config{
		Issuer:               h.Issuer,
		Subject:              h.Subject,
		Username:             h.Username,
		EmailDomains:         h.EmailDomains,
		EmailVerified:        h.EmailVerified,
		AccessTokenLifetime:  time.Duration(h.AccessTokenLifetime),
		IDTokenLifetime:      time.Duration(h.IDTokenLifetime),
		RefreshTokenLifetime: time.Duration(h.RefreshTokenLifetime),
		KeyRotation:          time.Duration(h.KeyRotation),
	}
	for _, c := range h.Clients {
		secret := repl.ReplaceKnown(c.Secret, "")
		if c.Secret != "" && secret == "" {
			return fmt.Errorf("xmpp_auth_oidc handler: client %q: secret %q is empty once resolved (is the variable set?)", c.ID, c.Secret)
		}
		cfg.Clients = append(cfg.Clients, openid.ClientConfig{ID: c.ID, Name: c.Name, Secret: secret, RedirectURIs: c.RedirectURIs,
			PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, Allow: c.Allow, Deny: c.Deny, RefreshTokens: c.RefreshTokens, IDTokenAlg: c.IDTokenAlg, Trusted: c.Trusted})
	}
	h.storeKey = "oidc|" + h.Issuer
	val, _, err := pool.LoadOrNew(h.storeKey, func() (caddy.Destructor, error) { return oidcStore{openid.NewStore()}, nil })
	if err != nil {
		h.storeKey = ""
		return fmt.Errorf("xmpp_auth_oidc handler: %w", err)
	}
	h.provider, err = openid.New(ctx, cfg, gate, val.(oidcStore).Store, ctx.Storage(), ctx.Logger(), nil)
	if err != nil {
		return fmt.Errorf("xmpp_auth_oidc handler: %w", err)
	}
	return nil
}

// Cleanup lets go of the provider's store; the last config using it
// drops it.
func (h *OIDCHandler) Cleanup() error {
	if h.storeKey == "" {
		return nil
	}
	_, err := pool.Delete(h.storeKey)
	return err
}

// ServeHTTP implements caddyhttp.MiddlewareHandler: the provider serves
// what is under the issuer's path and the login's pages; anything else
// goes on to next.
func (h *OIDCHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.provider.Owns(r) {
		return next.ServeHTTP(w, r)
	}
	return asCaddyError(h.provider.ServeHTTP(w, r))
}

// errNoIssuer is the Caddyfile's error for a directive without an issuer.
var errNoIssuer = errors.New("xmpp_auth_oidc: issuer is required, for example issuer https://auth.example.org")

// Interface guards
var (
	_ caddy.Provisioner           = (*OIDCHandler)(nil)
	_ caddy.CleanerUpper          = (*OIDCHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*OIDCHandler)(nil)
)
