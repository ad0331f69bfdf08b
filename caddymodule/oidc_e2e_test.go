package caddymodule_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/xepauth/caddy-xepauth/internal/webtest"
	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

const (
	oidcRedirect = "https://app.example/callback"
	oidcSecret   = "0123456789abcdef0123456789abcdef"
)

// loadOIDC loads the site with the OpenID provider in place of the gate,
// its issuer the site's URL, its login the gate's options, and one client,
// wiki, whose settings edit may change. It returns the issuer.
func (s *site) loadOIDC(edit func(handler, client map[string]any)) string {
	s.t.Helper()
	return s.loadOIDCWith(options{}, edit)
}

// loadOIDCWith is loadOIDC with the site's options o.
func (s *site) loadOIDCWith(o options, edit func(handler, client map[string]any)) string {
	s.t.Helper()
	if err := s.tryOIDCWith(o, edit); err != nil {
		s.t.Fatalf("load config: %v", err)
	}
	return "http://" + s.addr
}

// tryOIDC is loadOIDC, returning the config's error.
func (s *site) tryOIDC(edit func(handler, client map[string]any)) error {
	s.t.Helper()
	return s.tryOIDCWith(options{}, edit)
}

func (s *site) tryOIDCWith(o options, edit func(handler, client map[string]any)) error {
	s.t.Helper()
	s.t.Setenv("XEPAUTH_TEST_OIDC_SECRET", oidcSecret)
	client := map[string]any{"id": "wiki", "name": "The Wiki", "secret": "{env.XEPAUTH_TEST_OIDC_SECRET}",
		"redirect_uris": []string{oidcRedirect}, "post_logout_redirect_uris": []string{"https://app.example/bye"}, "refresh_tokens": true}
	return s.loadWith(o, func(gate map[string]any) {
		login := map[string]any{}
		for k, v := range gate {
			if k != "handler" {
				login[k] = v
			}
			delete(gate, k)
		}
		gate["handler"] = "xmpp_auth_oidc"
		gate["issuer"] = "http://" + s.addr
		gate["clients"] = []any{client}
		gate["email_domains"] = []string{"localhost"}
		gate["login"] = login
		if edit != nil {
			edit(gate, client)
		}
	})
}

func TestAnAppLogsInThroughCaddysProviderByApprovalInXMPP(t *testing.T) {
	s := newSite(t)
	issuer := s.loadOIDC(nil)
	alice := s.p.NewUser(t, "alice", xmpptest.Approve)
	ctx := context.Background()

	app := webtest.NewRelyingParty(t, issuer, "wiki", oidcSecret, oidcRedirect, "profile", "email", "offline_access")
	app.Consent = "allow"
	b := s.browser()
	code, verifier := app.Code(b, "alice@localhost", oauth2.SetAuthURLParam("nonce", "n-1"))
	tok, err := app.OAuth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	idt, err := app.Verifier.Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	var claims struct {
		Nonce             string `json:"nonce"`
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
		EmailVerified     *bool  `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Nonce != "n-1" || claims.PreferredUsername != "alice@localhost" || claims.Email != "alice@localhost" ||
		claims.EmailVerified == nil || *claims.EmailVerified {
		t.Errorf("claims: %+v", claims)
	}
	if len(alice.Requests()) != 1 {
		t.Errorf("alice was asked %d times in XMPP, want once", len(alice.Requests()))
	}
	if ui, err := app.Provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil || ui.Subject != idt.Subject {
		t.Errorf("userinfo: %+v %v", ui, err)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	if _, err := app.OAuth.TokenSource(ctx, tok).Token(); err != nil {
		t.Errorf("refresh: %v", err)
	}

	// A reload keeps the signing key, the consent and the session: the
	// visitor comes back without being asked anything.
	s.loadOIDC(nil)
	// The reload closed the idle connections of the browser and of go-oidc.
	b.Client.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	if back, resp, body := app.Login(b, "", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")); back == nil || back.Query().Get("code") == "" {
		t.Fatalf("after a reload: %d %v\n%s", resp.StatusCode, back, body)
	}
	if _, err := app.Verifier.Verify(ctx, tok.Extra("id_token").(string)); err != nil {
		t.Errorf("the ID token from before the reload: %v", err)
	}

	// Logging out of the app ends the session on the provider's host.
	resp, _ := b.Do("GET", "/end_session?id_token_hint="+tok.Extra("id_token").(string)+"&post_logout_redirect_uri=https://app.example/bye", nil)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "https://app.example/bye") {
		t.Fatalf("end_session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if back, _, _ := app.Login(b, "", oauth2.S256ChallengeOption("v"), oauth2.SetAuthURLParam("prompt", "none")); back == nil || back.Query().Get("error") != "login_required" {
		t.Errorf("after the logout, prompt=none: %v", back)
	}
}

func TestTheProviderLeavesOtherPathsToTheNextHandler(t *testing.T) {
	s := newSite(t)
	s.loadOIDC(func(h, _ map[string]any) { h["issuer"] = "http://" + s.addr + "/oidc" })
	for _, path := range []string{"/elsewhere", "/oidcx", "/oidc-admin/page"} {
		if resp, body := s.browser().Do("GET", path, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "hello") {
			t.Errorf("%s, outside the issuer: %d %q", path, resp.StatusCode, body)
		}
	}
	resp, body := s.browser().Do("GET", "/oidc/.well-known/openid-configuration", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"issuer":"http://`+s.addr+`/oidc"`) ||
		strings.Contains(body, "implicit") || strings.Contains(body, "introspect") {
		t.Errorf("discovery: %d %s", resp.StatusCode, body)
	}
}

func TestABrokenProviderConfigIsAClearError(t *testing.T) {
	s := newSite(t)
	for name, tc := range map[string]struct {
		edit func(h, c map[string]any)
		want string
	}{
		"no issuer":          {func(h, _ map[string]any) { delete(h, "issuer") }, "issuer is required"},
		"an http issuer":     {func(h, _ map[string]any) { h["issuer"] = "http://login.example.org" }, "must be https"},
		"a trailing slash":   {func(h, _ map[string]any) { h["issuer"] = "https://login.example.org/" }, "without a trailing slash"},
		"no client":          {func(h, _ map[string]any) { delete(h, "clients") }, "no client"},
		"no redirect URI":    {func(_, c map[string]any) { delete(c, "redirect_uris") }, "no redirect_uri"},
		"a short secret":     {func(_, c map[string]any) { c["secret"] = "short" }, "shorter than 16"},
		"an unset secret":    {func(_, c map[string]any) { c["secret"] = "{env.XEPAUTH_NO_SUCH_VARIABLE}" }, "empty once resolved"},
		"an unknown subject": {func(h, _ map[string]any) { h["subject"] = "email" }, `subject "email"`},
	} {
		t.Run(name, func(t *testing.T) {
			err := s.tryOIDC(tc.edit)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
