//go:build bench

package caddymodule_test

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/xepauth/caddy-xepauth/internal/webtest"
	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// TestCodeFlowOverhead is the code-flow figure of the bench command: the
// time from a visitor's "log in" to the application holding a verified ID
// token, through Caddy's provider and a real Prosody with a client that
// approves at once, beside the plain gate's login (from the form to the
// page behind the gate) measured in the same run. The difference is what
// the provider adds to a login beyond the XMPP approval.
func TestCodeFlowOverhead(t *testing.T) {
	n := 100
	if v, err := strconv.Atoi(os.Getenv("XEPAUTH_CODEFLOW_SAMPLES")); err == nil && v > 0 {
		n = v
	}
	s := newSite(t)
	s.p.NewUser(t, "alice", xmpptest.Approve)
	ctx := context.Background()

	// The gate's login: form, approval, the page behind the gate, once the
	// component has connected.
	// A hundred logins of one address from one place: the limits
	// against prompt bombing would stop them.
	o := options{Limits: map[string]any{"jid_open": 10, "jid_per_window": 10 * n, "ip_per_window": 10 * n}}
	s.load(o)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b := s.browser()
		if resp, _ := b.Submit("alice@localhost", "/page"); resp.StatusCode == http.StatusOK {
			b.Outcome()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the gate did not connect to the XMPP server within 10s")
		}
	}
	var gate []time.Duration
	for range n {
		b := s.browser()
		start := time.Now()
		if resp, body := b.Submit("alice@localhost", "/page"); resp.StatusCode != http.StatusOK {
			t.Fatalf("login form: %d\n%s", resp.StatusCode, body)
		}
		resp, body := b.Outcome()
		to := approvedTo(resp, body)
		if resp, _ := b.Do("GET", to, nil); to == "" || resp.StatusCode != http.StatusOK {
			t.Fatalf("the page after login: %q %d", to, resp.StatusCode)
		}
		gate = append(gate, time.Since(start))
	}

	// The provider's: authorize, the same login, the callback, the code
	// exchanged and the ID token verified by the application.
	issuer := s.loadOIDCWith(o, func(_, c map[string]any) { c["trusted"] = true })
	app := webtest.NewRelyingParty(t, issuer, "wiki", oidcSecret, oidcRedirect, "profile")
	var flow []time.Duration
	for range n {
		b := s.browser()
		start := time.Now()
		code, verifier := app.Code(b, "alice@localhost")
		tok, err := app.OAuth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.Verifier.Verify(ctx, tok.Extra("id_token").(string)); err != nil {
			t.Fatal(err)
		}
		flow = append(flow, time.Since(start))
	}
	slices.Sort(gate)
	slices.Sort(flow)
	p := func(d []time.Duration, q float64) int64 { return d[int(q*float64(len(d)-1))].Microseconds() }
	t.Logf("code flow: samples %d gate_p50_us %d gate_p99_us %d flow_p50_us %d flow_p99_us %d",
		n, p(gate, .5), p(gate, .99), p(flow, .5), p(flow, .99))
}
