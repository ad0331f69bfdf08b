package openid

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Config is a provider's configuration, placeholders already resolved. A
// zero field takes its default.
type Config struct {
	// Issuer is the provider's URL, as every relying party is configured
	// with it and as it appears in every token: https, no query, no
	// trailing slash (http only on a loopback host, for tests). It is
	// never derived from a request. Required.
	Issuer string
	// Clients are the relying parties. At least one.
	Clients []ClientConfig
	// Subject says what the sub claim is: "hash" (default), a keyed hash
	// of the bare JID that never changes and tells nothing, or "jid", the
	// bare JID itself.
	Subject string
	// Username says what preferred_username is: "jid" (default), the bare
	// JID, or "localpart", the part before the @.
	Username string
	// EmailDomains are the XMPP domains whose addresses are mailboxes
	// too: only their users get an email claim (their bare JID). Default:
	// none, no email claim.
	EmailDomains []string
	// EmailVerified sets email_verified to true on those addresses: say so
	// only when the mail server delivers to exactly those accounts, since
	// applications link accounts by a verified email. Default: false.
	EmailVerified bool
	// AccessTokenLifetime is how long an access token is valid. Default:
	// 10m.
	AccessTokenLifetime time.Duration
	// IDTokenLifetime is how long an ID token is valid. Default: 1h.
	IDTokenLifetime time.Duration
	// RefreshTokenLifetime is how long a refresh token is valid if unused;
	// each use gives a new one. Default: 720h.
	RefreshTokenLifetime time.Duration
	// KeyRotation is how long a signing key signs before the next one
	// takes over. Default: 720h.
	KeyRotation time.Duration
}

// ClientConfig is one relying party.
type ClientConfig struct {
	// ID is the client_id. Required.
	ID string
	// Name names the client to the visitor. Default: the ID.
	Name string
	// Secret is the client_secret of a confidential client (a web
	// application with a server side). Empty: a public client (a
	// single-page or native application), which must use PKCE.
	Secret string
	// RedirectURIs are where codes may be sent, compared exactly. At
	// least one.
	RedirectURIs []string
	// PostLogoutRedirectURIs are where a logout may return, compared
	// exactly.
	PostLogoutRedirectURIs []string
	// Allow and Deny are who may log in to this client, as the gate's
	// rules (bare JIDs and domains; Deny wins), on top of the provider's
	// own. Empty Allow: anyone the provider admits.
	Allow, Deny []string
	// RefreshTokens lets the client get refresh tokens (with the
	// offline_access scope).
	RefreshTokens bool
	// IDTokenAlg is what the client's ID tokens are signed with: RS256
	// (default), or ES256.
	IDTokenAlg string
	// Trusted marks a first-party client: its visitors are not asked
	// whether it may know who they are. Others are asked once per visitor
	// (and again for scopes not granted yet, or with prompt=consent).
	Trusted bool
}

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if err := checkIssuer(c.Issuer); err != nil {
		errs = append(errs, err)
	}
	c.Subject = orDefault(c.Subject, "hash")
	if c.Subject != "hash" && c.Subject != "jid" {
		errs = append(errs, fmt.Errorf("subject %q: want hash or jid", c.Subject))
	}
	c.Username = orDefault(c.Username, "jid")
	if c.Username != "jid" && c.Username != "localpart" {
		errs = append(errs, fmt.Errorf("username %q: want jid or localpart", c.Username))
	}
	c.AccessTokenLifetime = orDefault(c.AccessTokenLifetime, 10*time.Minute)
	c.IDTokenLifetime = orDefault(c.IDTokenLifetime, time.Hour)
	c.RefreshTokenLifetime = orDefault(c.RefreshTokenLifetime, 720*time.Hour)
	c.KeyRotation = orDefault(c.KeyRotation, 720*time.Hour)
	for name, d := range map[string]time.Duration{"access_token_lifetime": c.AccessTokenLifetime, "id_token_lifetime": c.IDTokenLifetime,
		"refresh_token_lifetime": c.RefreshTokenLifetime, "key_rotation": c.KeyRotation} {
		if d < time.Minute {
			errs = append(errs, fmt.Errorf("%s %s: at least 1m", name, d))
		}
	}
	for i, d := range c.EmailDomains {
		c.EmailDomains[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	if len(c.Clients) == 0 {
		errs = append(errs, errors.New("no client: add one"))
	}
	seen := make(map[string]bool)
	for _, cl := range c.Clients {
		if c.Username == "localpart" && !oneDomain(cl.Allow) {
			errs = append(errs, fmt.Errorf("client %q: with username localpart, allow only one domain (allow example.org): "+
				"alice@example.org and alice@example.net would both be alice to it, and it would take them for one person", cl.ID))
		}
		if seen[cl.ID] {
			errs = append(errs, fmt.Errorf("client %q appears twice", cl.ID))
		}
		seen[cl.ID] = true
		if err := cl.check(); err != nil {
			errs = append(errs, fmt.Errorf("client %q: %w", cl.ID, err))
		}
	}
	return c, errors.Join(errs...)
}

// checkIssuer refuses an issuer that relying parties could not compare
// byte for byte with the one in the tokens, or one that would let a token
// travel in the clear.
func checkIssuer(iss string) error {
	u, err := url.Parse(iss)
	switch {
	case iss == "":
		return errors.New("issuer is required, for example https://auth.example.org")
	case err != nil:
		return fmt.Errorf("issuer %q: %w", iss, err)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(iss, "/") || u.Path != u.EscapedPath():
		return fmt.Errorf("issuer %q: want https://host or https://host/path, without a trailing slash, query or fragment", iss)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("issuer %q: must be https (http only on a loopback host)", iss)
}

func isLoopback(host string) bool {
	a, err := netip.ParseAddr(host)
	return host == "localhost" || err == nil && a.IsLoopback()
}

// check refuses a client that could not work or would not be safe.
func (c ClientConfig) check() error {
	var errs []error
	if c.ID == "" || strings.ContainsAny(c.ID, ":\r\n") {
		errs = append(errs, fmt.Errorf("client id %q: required, without colons or line breaks", c.ID))
	}
	if c.Secret != "" && len(c.Secret) < 16 {
		errs = append(errs, errors.New("secret shorter than 16 characters: make a long random one, for example with openssl rand -hex 32"))
	}
	if len(c.RedirectURIs) == 0 {
		errs = append(errs, errors.New("no redirect_uri"))
	}
	if c.IDTokenAlg != "" && c.IDTokenAlg != "RS256" && c.IDTokenAlg != "ES256" {
		errs = append(errs, fmt.Errorf("id_token_alg %q: want RS256 or ES256", c.IDTokenAlg))
	}
	for _, u := range append(append([]string(nil), c.RedirectURIs...), c.PostLogoutRedirectURIs...) {
		p, err := url.Parse(u)
		if err != nil || !p.IsAbs() || p.Fragment != "" {
			errs = append(errs, fmt.Errorf("redirect URI %q: want an absolute URI without a fragment", u))
		}
	}
	return errors.Join(errs...)
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// oneDomain reports whether allow admits addresses of a single domain
// only: that domain, or addresses at it.
func oneDomain(allow []string) bool {
	domain := ""
	for _, a := range allow {
		_, d, ok := strings.Cut(strings.ToLower(a), "@")
		if !ok {
			d = strings.ToLower(a)
		}
		if domain != "" && d != domain {
			return false
		}
		domain = d
	}
	return domain != ""
}
