package openid

import (
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// token is an access token or a refresh token: who it is for, for which
// client and scopes, and until when.
type token struct {
	clientID string
	jid      string
	subject  string
	scopes   []string
	authTime time.Time
	issued   time.Time
	expires  time.Time
}

// refreshRequest is a refresh token being redeemed, as op sees it.
type refreshRequest struct {
	token
	value string // the refresh token itself, which its redemption replaces
}

// GetAMR implements op.RefreshTokenRequest.
func (r *refreshRequest) GetAMR() []string { return []string{"user"} }

// GetAudience implements op.RefreshTokenRequest.
func (r *refreshRequest) GetAudience() []string { return []string{r.clientID} }

// GetAuthTime implements op.RefreshTokenRequest: the login's, which a
// refresh keeps.
func (r *refreshRequest) GetAuthTime() time.Time { return r.authTime }

// GetClientID implements op.RefreshTokenRequest.
func (r *refreshRequest) GetClientID() string { return r.clientID }

// GetScopes implements op.RefreshTokenRequest.
func (r *refreshRequest) GetScopes() []string { return r.scopes }

// GetSubject implements op.RefreshTokenRequest.
func (r *refreshRequest) GetSubject() string { return r.subject }

// SetCurrentScopes implements op.RefreshTokenRequest: a refresh may ask
// for fewer scopes than the login granted, never more (op checks).
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }

// tokenOf is the token a request for tokens describes: a redeemed code's
// login, or a redeemed refresh token's.
func tokenOf(req op.TokenRequest) (token, bool) {
	switch r := req.(type) {
	case *authRequest:
		return token{clientID: r.GetClientID(), jid: r.jid, subject: r.subject, scopes: r.GetScopes(), authTime: r.authTime}, true
	case *refreshRequest:
		return r.token, true
	}
	return token{}, false
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)
