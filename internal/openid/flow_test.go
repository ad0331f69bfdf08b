package openid_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/xepauth/caddy-xepauth/internal/login"
	"github.com/xepauth/caddy-xepauth/internal/openid"
	"github.com/xepauth/caddy-xepauth/internal/webtest"
)

const (
	appRedirect = "https://app.example/callback"
	appSecret   = "0123456789abcdef0123456789abcdef"
)

// newApp is a relying party of rg's provider with the client's id and
// secret, at appRedirect.
func newApp(t *testing.T, rg *rig, clientID, secret string, scopes ...string) *webtest.RelyingParty {
	t.Helper()
	return webtest.NewRelyingParty(t, rg.provider.Issuer(), clientID, secret, appRedirect, scopes...)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestAConfidentialAppLogsInWithPKCEAndGetsTheVisitorsClaims(t *testing.T) {
	rg := newRig(t, openid.Config{
		Clients:      []openid.ClientConfig{{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}, RefreshTokens: true, Trusted: true}},
		EmailDomains: []string{"example.org"},
	}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret, oidc.ScopeOfflineAccess, "profile", "email")
	b := webtest.NewBrowser(t, rg.issuer)
	verifier := oauth2.GenerateVerifier()
	back, resp, body := a.Login(b, "alice@example.org", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-456"))
	if back == nil {
		t.Fatalf("no redirect to the app: %d\n%s", resp.StatusCode, body)
	}
	if back.Query().Get("state") != webtest.State || back.Query().Get("code") == "" {
		t.Fatalf("the redirect to the app: %s", back)
	}
	ctx := context.Background()
	tok, err := a.OAuth.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.Verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("the ID token does not verify: %v", err)
	}
	var claims struct {
		Sub               string `json:"sub"`
		Nonce             string `json:"nonce"`
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
		EmailVerified     *bool  `json:"email_verified"`
	}
	mustClaims(t, idt, &claims)
	if claims.Nonce != "nonce-456" || len(claims.Sub) != 43 || claims.PreferredUsername != "alice@example.org" ||
		claims.Email != "alice@example.org" || claims.EmailVerified == nil || *claims.EmailVerified {
		t.Errorf("ID token claims: %+v", claims)
	}
	ui, err := a.Provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != claims.Sub || ui.Email != "alice@example.org" {
		t.Fatalf("userinfo: %+v %v", ui, err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}
	tok.Expiry = tok.Expiry.Add(-24 * time.Hour) // due for a refresh
	fresh, err := a.OAuth.TokenSource(ctx, tok).Token()
	if err != nil || fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v (a new refresh token each time: %v)", err, fresh != nil && fresh.RefreshToken != tok.RefreshToken)
	}
	if _, err := a.OAuth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("a refresh token was accepted a second time")
	}
}

func mustClaims(t *testing.T, idt *oidc.IDToken, v any) {
	t.Helper()
	if err := idt.Claims(v); err != nil {
		t.Fatal(err)
	}
}
