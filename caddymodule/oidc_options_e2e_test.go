package caddymodule_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/xepauth/caddy-xepauth/internal/webtest"
	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

func TestTheProvidersOptionsReachItThroughCaddy(t *testing.T) {
	s := newSite(t)
	issuer := s.loadOIDC(func(h, c map[string]any) {
		h["email_verified"] = true
		h["username"] = "localpart"
		c["allow"] = []string{"localhost"}
		c["deny"] = []string{"bob@localhost"}
	})
	s.p.NewUser(t, "alice", xmpptest.Approve)
	s.p.NewUser(t, "bob", xmpptest.Approve)
	ctx := context.Background()
	app := webtest.NewRelyingParty(t, issuer, "wiki", oidcSecret, oidcRedirect, "profile", "email")
	b := s.browser()
	if back, _, body := app.Login(b, "alice@localhost", oauth2.S256ChallengeOption("v")); back != nil || !strings.Contains(body, `name="consent"`) {
		t.Fatalf("an untrusted client got no consent page: %v", back)
	}
	app.Consent = "allow"
	code, verifier := app.Code(b, "")
	tok, err := app.OAuth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := app.Verifier.Verify(ctx, tok.Extra("id_token").(string))
	var c struct {
		PU string `json:"preferred_username"`
		EV *bool  `json:"email_verified"`
	}
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.PU != "alice" || c.EV == nil || !*c.EV {
		t.Errorf("claims %+v", c)
	}
	if back, resp, _ := app.Login(s.browser(), "bob@localhost", oauth2.S256ChallengeOption("v")); back != nil || resp.StatusCode != 403 {
		t.Errorf("a denied client address: %d %v", resp.StatusCode, back)
	}
	// The operator now denies alice at the login level: her session must not give codes.
	s.loadOIDC(func(h, c map[string]any) {
		h["username"] = "localpart"
		c["allow"] = []string{"localhost"}
		h["login"].(map[string]any)["deny"] = []string{"alice@localhost"}
	})
	b.Client.CloseIdleConnections() // the reload closed them
	if back, _, _ := app.Login(b, "", oauth2.S256ChallengeOption("v"), oauth2.SetAuthURLParam("prompt", "none")); back != nil && back.Query().Get("code") != "" {
		t.Error("a session of an address the login now denies got a code")
	}
}
