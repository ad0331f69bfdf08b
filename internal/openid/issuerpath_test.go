package openid_test

import (
	"context"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/xepauth/caddy-xepauth/internal/login"
	"github.com/xepauth/caddy-xepauth/internal/openid"
	"github.com/xepauth/caddy-xepauth/internal/webtest"
)

func TestAnIssuerWithAPathLogsIn(t *testing.T) {
	rg := newRig(t, openid.Config{Issuer: "/oidc", Clients: []openid.ClientConfig{{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect},
		PostLogoutRedirectURIs: []string{"https://app.example/bye"}, Trusted: true}}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret)
	b := webtest.NewBrowser(t, rg.issuer)
	code, verifier := a.Code(b, "alice@example.org")
	tok, err := a.OAuth.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := b.Do("GET", "/oidc/end_session?"+url.Values{"id_token_hint": {tok.Extra("id_token").(string)}}.Encode(), nil)
	if loc := resp.Header.Get("Location"); loc != rg.provider.Issuer()+"/logged-out" {
		t.Errorf("logout lands on %q", loc)
	}
}
