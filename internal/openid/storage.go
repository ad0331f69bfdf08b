package openid

import (
	"context"
	"errors"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"go.uber.org/zap"
)

// opStorage is the provider as op's Storage sees it: the requests, codes
// and tokens of the Store, the clients, the keys and the claims.
type opStorage struct{ p *Provider }

// CreateAuthRequest implements op.Storage. op has checked the client, the
// redirect URI, the response type and the scopes; this adds what op leaves
// to its user: PKCE with S256 for a public client (before any code is
// made, not only at the token endpoint), and the binding to the browser
// that asked.
func (s opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, hint string) (op.AuthRequest, error) {
	cl := s.p.clients[req.ClientID]
	if cl == nil {
		return nil, oidc.ErrInvalidClient()
	}
	if req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	if cl.public() && req.CodeChallenge == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("a public client must use PKCE (code_challenge with S256)")
	}
	b, ok := ctx.Value(browserKey{}).(browser)
	if !ok || b.binding == "" {
		return nil, oidc.ErrServerError().WithDescription("no browser binding")
	}
	if size(req) > maxRequestSize {
		return nil, oidc.ErrInvalidRequest().WithDescription("the request's parameters are too long")
	}
	a := &authRequest{id: newID(), req: *req, browser: b.binding, prior: b.prior, networks: b.networks, hint: hint, created: s.p.now()}
	st := s.p.store
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(a.created)
	if !st.admit(a) {
		s.p.log.Warn("refused an authorization request: too many are waiting for a login",
			zap.Int("waiting", len(st.requests)), zap.String("network", a.networks[0].Key))
		return nil, &oidc.Error{ErrorType: "temporarily_unavailable", Description: "too many logins are in progress; try again in a few minutes"}
	}
	return a, nil
}

// request returns a copy of the live authorization request id. Copies go
// out so that op never reads a request while login.go changes it.
func (s opStorage) request(id string) (*authRequest, error) {
	st := s.p.store
	st.mu.Lock()
	defer st.mu.Unlock()
	a := st.requests[id]
	if a == nil || s.p.now().Sub(a.created) > requestLifetime {
		return nil, errNotFound
	}
	c := *a
	return &c, nil
}

// AuthRequestByID implements op.Storage.
func (s opStorage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	return s.request(id)
}

// AuthRequestByCode implements op.Storage. A code is redeemed once: it is
// taken out here, before op checks anything else, so that two redemptions
// at once cannot both succeed, and a failed one burns it.
func (s opStorage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	st := s.p.store
	st.mu.Lock()
	defer st.mu.Unlock()
	id, ok := st.codes[code]
	if !ok {
		return nil, oidc.ErrInvalidGrant().WithDescription("the code is unknown, used or expired")
	}
	delete(st.codes, code)
	a := st.requests[id]
	st.removeRequest(id)
	if a == nil || !s.p.now().Before(a.codeExpires) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the code is unknown, used or expired")
	}
	return a, nil
}

// SaveAuthCode implements op.Storage.
func (s opStorage) SaveAuthCode(_ context.Context, id, code string) error {
	st := s.p.store
	st.mu.Lock()
	defer st.mu.Unlock()
	a := st.requests[id]
	if a == nil || !a.done || a.code != "" {
		return errNotFound
	}
	a.code, a.codeExpires = code, s.p.now().Add(codeLifetime)
	st.codes[code] = id
	return nil
}

// DeleteAuthRequest implements op.Storage.
func (s opStorage) DeleteAuthRequest(_ context.Context, id string) error {
	st := s.p.store
	st.mu.Lock()
	defer st.mu.Unlock()
	st.removeRequest(id)
	return nil
}

// CreateAccessToken implements op.Storage.
func (s opStorage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	t, ok := tokenOf(req)
	if !ok {
		return "", time.Time{}, errors.New("unexpected token request")
	}
	now := s.p.now()
	id, exp := newID(), now.Add(s.p.cfg.AccessTokenLifetime)
	t.expires = exp
	st := s.p.store
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	st.access[id] = &t
	return id, exp, nil
}

// CreateAccessAndRefreshTokens implements op.Storage. A refresh token is
// used once: redeeming it (current) replaces it with a new one.
func (s opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	t, ok := tokenOf(req)
	if !ok {
		return "", "", time.Time{}, errors.New("unexpected token request")
	}
	now := s.p.now()
	st := s.p.store
	st.mu.Lock()
	if current != "" {
		if old := st.refresh[current]; old == nil || old.clientID != t.clientID {
			st.mu.Unlock()
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the refresh token is unknown, used or expired")
		}
		st.removeRefresh(current)
	}
	// A refresh token lasts RefreshTokenLifetime unused, and a chain of
	// them no longer than that from the login.
	rt := t
	rt.issued, rt.expires = now, now.Add(s.p.cfg.RefreshTokenLifetime)
	if end := t.authTime.Add(s.p.cfg.RefreshTokenLifetime); end.Before(rt.expires) {
		rt.expires = end
	}
	value := newID()
	st.addRefresh(value, &rt)
	st.mu.Unlock()
	id, exp, err := s.CreateAccessToken(ctx, req)
	return id, value, exp, err
}

// TokenRequestByRefreshToken implements op.Storage.
func (s opStorage) TokenRequestByRefreshToken(_ context.Context, value string) (op.RefreshTokenRequest, error) {
	st := s.p.store
	st.mu.Lock()
	defer st.mu.Unlock()
	t := st.refresh[value]
	if t == nil || !s.p.now().Before(t.expires) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token is unknown, used or expired")
	}
	// The rules as they are now: a visitor the login or the client no
	// longer admits (a config changed since) gets no new tokens.
	if cl := s.p.clients[t.clientID]; cl == nil || !s.p.gate.Admits(t.jid) || !cl.rules.Admits(t.jid) {
		st.removeRefresh(value)
		return nil, oidc.ErrInvalidGrant().WithDescription("this account may no longer use this client")
	}
	return &refreshRequest{token: *t, value: value}, nil
}

// TerminateSession implements op.Storage; op calls TerminateSessionFromRequest instead.
func (s opStorage) TerminateSession(context.Context, string, string) error { return nil }

// TerminateSessionFromRequest implements op.CanTerminateSessionFromRequest,
// once op has checked the request (the id_token_hint's signature, the
// post_logout_redirect_uri). A logout ends the visitor's session here and
// their tokens at the client only when the hint names the visitor whose
// browser asks; a visitor with a session and no such hint is asked on the
// gate's logout page, and one without a session has nothing to end.
func (s opStorage) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	v, _ := ctx.Value(visitorKey{}).(*visitor)
	if v == nil || v.subject == "" {
		return req.RedirectURI, nil
	}
	if req.UserID != v.subject {
		return s.p.origin + s.p.gate.LogoutPath(), nil
	}
	v.end()
	if req.ClientID != "" {
		st := s.p.store
		st.mu.Lock()
		st.endUser(req.ClientID, req.UserID)
		st.mu.Unlock()
	}
	return req.RedirectURI, nil
}

// RevokeToken implements op.Storage (RFC 7009): a token of another client
// is left alone, and an unknown one is no error.
func (s opStorage) RevokeToken(_ context.Context, value, _ string, clientID string) *oidc.Error {
	st := s.p.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if t := st.refresh[value]; t != nil && t.clientID == clientID {
		st.removeRefresh(value)
	}
	if t := st.access[value]; t != nil && t.clientID == clientID {
		delete(st.access, value)
	}
	return nil
}

// GetRefreshTokenInfo implements op.Storage.
func (s opStorage) GetRefreshTokenInfo(_ context.Context, clientID, value string) (string, string, error) {
	st := s.p.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if t := st.refresh[value]; t != nil && t.clientID == clientID {
		return t.subject, value, nil
	}
	return "", "", op.ErrInvalidRefreshToken
}

// algKey carries the algorithm the client of a token request wants its ID
// tokens signed with.
type algKey struct{}

// SigningKey implements op.Storage: the key of the algorithm the client
// asked for (provider.go puts it in the context of a token request), or
// else RS256's.
func (s opStorage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	keys, err := s.p.keys.current(ctx)
	if err != nil {
		return nil, err
	}
	alg, _ := ctx.Value(algKey{}).(jose.SignatureAlgorithm)
	if alg == "" {
		alg = algorithms[0]
	}
	return signer(keys, alg, s.p.now()), nil
}

// SignatureAlgorithms implements op.Storage.
func (s opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return algorithms, nil
}

// KeySet implements op.Storage: every key that signs, has signed a token
// that may still be valid, or will sign soon.
func (s opStorage) KeySet(ctx context.Context) ([]op.Key, error) {
	keys, err := s.p.keys.current(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, len(keys))
	for i, k := range keys {
		out[i] = publicKey{k}
	}
	return out, nil
}

// GetClientByClientID implements op.Storage.
func (s opStorage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if cl := s.p.clients[id]; cl != nil {
		return cl, nil
	}
	return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
}

// AuthorizeClientIDSecret implements op.Storage.
func (s opStorage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if cl := s.p.clients[id]; cl != nil && cl.secretMatches(secret) {
		return nil
	}
	return oidc.ErrInvalidClient().WithDescription("unknown client or wrong secret")
}

// SetUserinfoFromScopes implements op.Storage; SetUserinfoFromRequest does the work.
func (s opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest: the
// claims of the ID token.
func (s opStorage) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	t, ok := tokenOf(req)
	if !ok {
		return errors.New("unexpected ID token request")
	}
	s.p.claims.fill(ui, t.jid, t.subject, scopes)
	return nil
}

// SetUserinfoFromToken implements op.Storage: the userinfo endpoint. op
// has decrypted the token; whether it is still valid is looked up here.
func (s opStorage) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, id, subject, _ string) error {
	st := s.p.store
	st.mu.Lock()
	t := st.access[id]
	st.mu.Unlock()
	if t == nil || t.subject != subject || !s.p.now().Before(t.expires) {
		return errors.New("the access token is unknown, revoked or expired")
	}
	s.p.claims.fill(ui, t.jid, t.subject, t.scopes)
	return nil
}

// SetIntrospectionFromToken implements op.Storage: introspection is not
// offered.
func (s opStorage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("introspection is not offered")
}

// GetPrivateClaimsFromScopes implements op.Storage: no private claims.
func (s opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID implements op.Storage: the JWT profile grant is
// not offered, and op has it always on, so it must fail here.
func (s opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("the JWT profile grant is not offered")
}

// ValidateJWTProfileScopes implements op.Storage: see GetKeyByIDAndClientID.
func (s opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not offered")
}

// Health implements op.Storage.
func (s opStorage) Health(context.Context) error { return nil }

var (
	_ op.Storage                        = opStorage{}
	_ op.CanSetUserinfoFromRequest      = opStorage{}
	_ op.CanTerminateSessionFromRequest = opStorage{}
)
