package openid

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"go.uber.org/zap"

	"github.com/xepauth/caddy-xepauth/internal/login"
)

// Provider is an OpenID provider at one issuer: op's endpoints, with the
// login of a gate.
type Provider struct {
	cfg     Config
	gate    *login.Gate
	store   *Store
	clients map[string]*client
	keys    *keyring
	claims  claims
	now     func() time.Time
	log     *zap.Logger
	op      *op.Provider
	prefix  string // the issuer's path: "" or "/path"
	origin  string // the issuer's scheme and host
	secure  bool   // the issuer is https: the binding cookie is __Host- and Secure
	st      login.Storage
	dir     string // where the issuer's keys and consents are in st
}

// Paths under the issuer, besides op's own.
const (
	loginPath     = "/login"      // where op sends the visitor to log in (login.go)
	loggedOutPath = "/logged-out" // where a logout with nowhere else to go ends
	callbackPath  = "/authorize/callback"
)

// New makes the provider of cfg, whose visitors log in through gate. st
// keeps the keys (made there the first time); store holds the requests
// and tokens, and may come from an earlier config of the same issuer. now
// is the clock (nil: time.Now).
func New(ctx context.Context, cfg Config, gate *login.Gate, store *Store, st login.Storage, log *zap.Logger, now func() time.Time) (*Provider, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = zap.NewNop()
	}
	u, _ := url.Parse(cfg.Issuer) // checked by withDefaults
	p := &Provider{cfg: cfg, gate: gate, store: store, clients: map[string]*client{}, now: now, log: log,
		prefix: u.Path, origin: u.Scheme + "://" + u.Host, secure: u.Scheme == "https"}
	for _, c := range cfg.Clients {
		cl, err := newClient(c, p.prefix+loginPath, cfg.IDTokenLifetime)
		if err != nil {
			return nil, fmt.Errorf("client %q: %w", c.ID, err)
		}
		p.clients[c.ID] = cl
	}

	// Everything this issuer keeps in storage is under one folder, so that
	// two issuers sharing a storage neither share keys nor subjects.
	sum := sha256.Sum256([]byte(cfg.Issuer))
	dir := "xmpp_auth/oidc/" + hex.EncodeToString(sum[:8]) + "/"
	p.st, p.dir = st, dir
	cryptoKey, err := storedSecret(ctx, st, dir+"token_key", 32)
	if err != nil {
		return nil, err
	}
	p.claims = claims{localUsername: cfg.Username == "localpart", emailDomains: cfg.EmailDomains, emailVerified: cfg.EmailVerified}
	if cfg.Subject == "hash" {
		if p.claims.subjectKey, err = storedSecret(ctx, st, dir+"subject_key", 32); err != nil {
			return nil, err
		}
	}
	// A retired key stays published as long as an ID token it signed may
	// be valid, and five minutes more for the clocks of relying parties.
	p.keys = &keyring{st: st, path: dir + "signing_keys.json", rotation: cfg.KeyRotation, keep: cfg.IDTokenLifetime + 5*time.Minute, now: now}
	if _, err := p.keys.current(ctx); err != nil {
		return nil, err
	}

	opts := []op.Option{
		// Any origin may call the token, userinfo and key endpoints (a
		// single-page application does), but never with the visitor's
		// cookies: op's default would allow credentials from any origin.
		op.WithCORSOptions(&cors.Options{AllowOriginFunc: func(string) bool { return true },
			AllowedHeaders: []string{"Authorization", "Content-Type"}, AllowedMethods: []string{http.MethodGet, http.MethodPost}}),
	}
	if u.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure()) // a loopback issuer: checkIssuer allows nothing else
	}
	var key [32]byte
	copy(key[:], cryptoKey)
	p.op, err = op.NewProvider(&op.Config{
		CryptoKey:                key,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		DefaultLogoutRedirectURI: cfg.Issuer + loggedOutPath,
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess},
		SupportedClaims:          []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "amr", "azp", "preferred_username", "name", "email", "email_verified"},
	}, opStorage{p}, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("make the OpenID provider: %w", err)
	}
	return p, nil
}

// Owns reports whether r is for the provider: a path under the issuer, or
// a page of its gate.
func (p *Provider) Owns(r *http.Request) bool {
	path := r.URL.Path
	return p.prefix == "" || path == p.prefix || strings.HasPrefix(path, p.prefix+"/") || p.gate.Owns(r)
}

// ServeHTTP serves a request the provider owns. It returns an error only
// when the gate does (a *login.StatusError for a client that does not
// read HTML).
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if served, err := p.gate.ServeOwnPage(w, r); served {
		return err
	}
	rel := strings.TrimPrefix(r.URL.Path, p.prefix)
	r = r.WithContext(op.ContextWithIssuer(r.Context(), p.cfg.Issuer))
	// No request to the provider carries more than a form of parameters.
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	switch rel {
	case loginPath:
		return p.serveLogin(w, r)
	case loggedOutPath:
		return p.gate.ShowLoggedOut(w, r)
	case oidc.DiscoveryEndpoint:
		p.serveDiscovery(w, r)
		return nil
	case "/authorize":
		r = p.bindBrowser(w, r)
		orig := w
		w = &pageWriter{ResponseWriter: w, show: func(detail string) { _ = p.gate.ShowInvalid(orig, r, detail) }}
	case callbackPath:
		// op reads the id from the form, where a POST body comes before
		// the query: only a GET, whose form is its query, is checked here.
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return nil
		}
		if a, err := (opStorage{p}).request(r.URL.Query().Get("id")); err != nil || !p.sameBrowser(r, a) {
			return p.gate.ShowInvalid(w, r, errUnknownLogin)
		}
	case "/end_session":
		v := &visitor{}
		if s, ok := p.gate.Visitor(w, r); ok {
			v.subject = p.claims.subject(s.JID)
		}
		orig := w
		// The cookies EndSession clears go out with op's redirect.
		v.end = func() { p.gate.EndSession(orig, r) }
		r = r.WithContext(context.WithValue(r.Context(), visitorKey{}, v))
		w = &pageWriter{ResponseWriter: w, show: func(detail string) { _ = p.gate.ShowInvalid(orig, r, detail) }}
	case "/oauth/token":
		// The client's algorithm picks the key that signs its ID token
		// (SigningKey). The client is read as op reads it: Basic
		// credentials, else the last client_id of the form.
		if err := r.ParseForm(); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"the form cannot be read"}`))
			return nil
		}
		id, _, ok := r.BasicAuth()
		if ok {
			id, _ = url.QueryUnescape(id)
		} else if ids := r.Form["client_id"]; len(ids) > 0 {
			id = ids[len(ids)-1]
		}
		if cl := p.clients[id]; cl != nil && cl.IDTokenAlg != "" {
			r = r.WithContext(context.WithValue(r.Context(), algKey{}, jose.SignatureAlgorithm(cl.IDTokenAlg)))
		}
	case "/oauth/introspect", "/device_authorization", "/healthz", "/ready":
		// op serves them whatever the storage offers; this provider
		// offers none of them.
		http.NotFound(w, r)
		return nil
	}
	if rel != "/keys" {
		w.Header().Set("Cache-Control", "no-store")
	}
	http.StripPrefix(p.prefix, p.op).ServeHTTP(w, r)
	if pw, ok := w.(*pageWriter); ok {
		pw.flush()
	}
	return nil
}

// serveDiscovery is op's discovery document without what op advertises
// whatever its storage offers: the implicit flow, the JWT profile grant,
// introspection and device authorization.
func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	d := op.CreateDiscoveryConfig(r.Context(), p.op, opStorage{p})
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	d.IntrospectionEndpoint, d.DeviceAuthorizationEndpoint = "", ""
	d.IntrospectionEndpointAuthMethodsSupported, d.IntrospectionEndpointAuthSigningAlgValuesSupported = nil, nil
	d.RevocationEndpointAuthSigningAlgValuesSupported = nil // for private_key_jwt, which is not offered
	d.RequestParameterSupported, d.RequestURIParameterSupported = false, false
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = json.NewEncoder(w).Encode(d)
}

// maxBody bounds the body of a request to the provider: a form of
// parameters, or a consent.
const maxBody = 64 << 10

// visitorKey carries a *visitor to TerminateSessionFromRequest.
type visitorKey struct{}

// visitor is who asks to log out, as their session says: the subject, or
// "" without a session; TerminateSessionFromRequest calls end when the
// logout is theirs, which ends the gate's session.
type visitor struct {
	subject string
	end     func()
}

// errUnknownLogin is why a login link does nothing.
const errUnknownLogin = "This login is unknown, has expired, or was started in another browser."

// pageWriter shows op's plain-text errors for a visitor (an unknown
// client, a redirect URI the client did not register) as a page of the
// gate, in the visitor's language, with op's text as the detail.
type pageWriter struct {
	http.ResponseWriter
	show    func(detail string)
	status  int
	holding bool // an error of op's is held back, to be shown by flush
	detail  strings.Builder
}

// held decides, at the status, whether op's answer is an error for a
// person (a 4xx in plain text), which flush shows as a page instead.
func (p *pageWriter) held() bool {
	p.holding = p.status >= 400 && p.status < 500 && strings.HasPrefix(p.Header().Get("Content-Type"), "text/plain")
	return p.holding
}

func (p *pageWriter) WriteHeader(status int) {
	if p.status != 0 {
		return
	}
	p.status = status
	if p.held() {
		p.Header().Del("Content-Type")
		p.Header().Del("Content-Length")
		return // shown by flush
	}
	p.ResponseWriter.WriteHeader(status)
}

func (p *pageWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.WriteHeader(http.StatusOK)
	}
	if p.holding {
		if p.detail.Len() < 1024 {
			p.detail.Write(b[:min(len(b), 1024-p.detail.Len())])
		}
		return len(b), nil
	}
	return p.ResponseWriter.Write(b)
}

// flush shows the page, if an error was held back.
func (p *pageWriter) flush() {
	if p.holding {
		p.holding = false
		p.show(strings.TrimSpace(p.detail.String()))
	}
}

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }
