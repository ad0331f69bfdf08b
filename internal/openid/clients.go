package openid

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/xepauth/caddy-xepauth/internal/login"
)

// client is a relying party from the config, as op sees it.
type client struct {
	ClientConfig
	secretHash [sha256.Size]byte
	rules      login.Rules
	loginURL   string // the provider's login page, to which the request id is added
	idLifetime time.Duration
}

func newClient(c ClientConfig, loginURL string, idLifetime time.Duration) (*client, error) {
	rules, err := login.ParseRules(c.Allow, c.Deny)
	if err != nil {
		return nil, err
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	return &client{ClientConfig: c, secretHash: sha256.Sum256([]byte(c.Secret)), rules: rules, loginURL: loginURL, idLifetime: idLifetime}, nil
}

// public reports whether the client has no secret: a single-page or
// native application, which must prove itself with PKCE instead.
func (c *client) public() bool { return c.Secret == "" }

// secretMatches compares a presented secret in constant time (of its
// hash, so the length of the real one does not show either).
func (c *client) secretMatches(secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	return !c.public() && subtle.ConstantTimeCompare(sum[:], c.secretHash[:]) == 1
}

// GetID implements op.Client.
func (c *client) GetID() string { return c.ID }

// RedirectURIs implements op.Client: op compares them exactly.
func (c *client) RedirectURIs() []string { return c.ClientConfig.RedirectURIs }

// PostLogoutRedirectURIs implements op.Client.
func (c *client) PostLogoutRedirectURIs() []string { return c.ClientConfig.PostLogoutRedirectURIs }

// ApplicationType implements op.Client. A confidential client is a web
// application. A public one is taken as native, the type op lets use a
// loopback redirect on any port (RFC 8252 §7.3) and custom schemes; its
// other redirect URIs are still compared exactly.
func (c *client) ApplicationType() op.ApplicationType {
	if c.public() {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

// AuthMethod implements op.Client.
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

// ResponseTypes implements op.Client: the authorization-code flow only.
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

// GrantTypes implements op.Client.
func (c *client) GrantTypes() []oidc.GrantType {
	if c.RefreshTokens {
		return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	}
	return []oidc.GrantType{oidc.GrantTypeCode}
}

// LoginURL implements op.Client: op sends the visitor there with the id
// of the authorization request.
func (c *client) LoginURL(id string) string { return c.loginURL + "?id=" + url.QueryEscape(id) }

// AccessTokenType implements op.Client: opaque tokens, which only this
// provider reads (at userinfo), so that revoking one takes effect.
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }

// IDTokenLifetime implements op.Client.
func (c *client) IDTokenLifetime() time.Duration { return c.idLifetime }

// DevMode implements op.Client: never, it relaxes the redirect checks.
func (c *client) DevMode() bool { return false }

// RestrictAdditionalIdTokenScopes implements op.Client.
//
//nolint:revive // the name is op.Client's
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string { return keepScopes }

// RestrictAdditionalAccessTokenScopes implements op.Client.
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string { return keepScopes }

func keepScopes(s []string) []string { return s }

// IsScopeAllowed implements op.Client: the standard scopes only, which op
// keeps by itself.
func (c *client) IsScopeAllowed(string) bool { return false }

// IDTokenUserinfoClaimsAssertion implements op.Client: the claims go in
// the ID token as well as userinfo, because Grafana, Synapse, MinIO and
// others read only the ID token.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

// ClockSkew implements op.Client.
func (c *client) ClockSkew() time.Duration { return 0 }

var _ op.Client = (*client)(nil)
