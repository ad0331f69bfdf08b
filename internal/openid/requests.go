package openid

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/xepauth/caddy-xepauth/internal/login"
	"github.com/xepauth/caddy-xepauth/internal/session"
)

// Lifetimes of what a login leaves behind. An authorization request lives
// as long as a visitor may take to log in; a code only as long as a
// relying party takes to redeem it, which it does at once.
const (
	requestLifetime = 15 * time.Minute
	codeLifetime    = time.Minute
	// unvisitedLifetime is how long a request lives that nobody has
	// followed to its login page, which a browser does at once.
	unvisitedLifetime = 2 * time.Minute
)

// Anyone can start an authorization request, with no login, and each one
// is kept until it expires: these bound the memory that costs, and keep one
// network from taking every place. A request whose parameters are longer
// than maxRequestSize is refused; one network may have
// maxRequestsPerNetwork waiting (an IPv4 address or IPv6 /64; a /56 four
// times as many, a /48 sixteen); when maxRequests are waiting, a new one
// takes the place of the oldest that nobody followed to its login page, and
// is refused when there is none.
const (
	maxRequests           = 10000
	maxRequestsPerNetwork = 50
	maxRequestSize        = 4096 // bytes of parameters kept
)

// size is about how many bytes of the request's parameters are kept.
func size(r *oidc.AuthRequest) int {
	n := len(r.ClientID) + len(r.RedirectURI) + len(r.State) + len(r.Nonce) + len(r.ResponseType) + len(r.ResponseMode) +
		len(r.Display) + len(r.IDTokenHint) + len(r.LoginHint) + len(r.CodeChallenge) + len(r.CodeChallengeMethod) + len(r.RequestParam)
	for _, v := range [][]string{r.Scopes, r.Prompt, r.ACRValues} {
		for _, s := range v {
			n += len(s)
		}
	}
	return n + 16*len(r.UILocales)
}

// authRequest is one authorization request, from the authorize endpoint
// to the code's redemption.
type authRequest struct {
	id       string
	req      oidc.AuthRequest // as the relying party sent it
	browser  string           // the browser binding of the visitor who started it (login.go)
	prior    [16]byte         // the id of the session the visitor had when it started, if any
	networks []login.Network  // the client networks it came from, for maxRequestsPerNetwork
	visited  bool             // the visitor has come to its login page
	hint     string           // the subject of a valid id_token_hint: only they may log in
	created  time.Time

	// Set when the visitor has logged in (login.go).
	done     bool
	jid      string
	subject  string
	authTime time.Time

	code        string
	codeExpires time.Time
}

// GetID implements op.AuthRequest.
func (a *authRequest) GetID() string { return a.id }

// GetACR implements op.AuthRequest: no authentication context classes.
func (a *authRequest) GetACR() string { return "" }

// GetAMR implements op.AuthRequest. "user" is RFC 8176's user presence: a
// person approved in their own XMPP client.
func (a *authRequest) GetAMR() []string { return []string{"user"} }

// GetAudience implements op.AuthRequest.
func (a *authRequest) GetAudience() []string { return []string{a.req.ClientID} }

// GetAuthTime implements op.AuthRequest: when the visitor approved, which
// may be before this request when their session was reused.
func (a *authRequest) GetAuthTime() time.Time { return a.authTime }

// GetClientID implements op.AuthRequest.
func (a *authRequest) GetClientID() string { return a.req.ClientID }

// GetCodeChallenge implements op.AuthRequest.
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.req.CodeChallenge, Method: a.req.CodeChallengeMethod}
}

// GetNonce implements op.AuthRequest.
func (a *authRequest) GetNonce() string { return a.req.Nonce }

// GetRedirectURI implements op.AuthRequest.
func (a *authRequest) GetRedirectURI() string { return a.req.RedirectURI }

// GetResponseType implements op.AuthRequest.
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.req.ResponseType }

// GetResponseMode implements op.AuthRequest.
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.req.ResponseMode }

// GetScopes implements op.AuthRequest.
func (a *authRequest) GetScopes() []string { return a.req.Scopes }

// GetState implements op.AuthRequest.
func (a *authRequest) GetState() string { return a.req.State }

// GetSubject implements op.AuthRequest.
func (a *authRequest) GetSubject() string { return a.subject }

// Done implements op.AuthRequest.
func (a *authRequest) Done() bool { return a.done }

// prompts reports whether the request carries prompt value p.
func (a *authRequest) prompts(p string) bool {
	for _, v := range a.req.Prompt {
		if v == p {
			return true
		}
	}
	return false
}

// freshEnough reports whether the visitor's session s satisfies the
// request: prompt=login wants a login made for this request, max_age one
// no older than that many seconds. A session made since the request began
// always does: op sets max_age to 0 with prompt=login, and a visitor who
// has just approved must not be sent round again because a second has
// passed. (Made since: another session than the one the visitor came
// with, authenticated no earlier than the second the request began, the
// precision of a session's times.)
func (a *authRequest) freshEnough(s session.Session, now time.Time) bool {
	if s.ID != a.prior && !s.Authenticated.Before(a.created.Truncate(time.Second)) {
		return true
	}
	if a.prompts(oidc.PromptLogin) {
		return false
	}
	return a.req.MaxAge == nil || now.Sub(s.Authenticated) <= time.Duration(*a.req.MaxAge)*time.Second
}

// newID is 128 random bits in base64url: request ids, codes and tokens
// are all capabilities, so they cannot be guessed.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

var _ op.AuthRequest = (*authRequest)(nil)
