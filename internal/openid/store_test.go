package openid

import (
	"testing"
	"time"
)

func TestARedeemedCodeLeavesNothingBehind(t *testing.T) {
	st := NewStore()
	now := time.Now()
	a := &authRequest{id: "r1", created: now, done: true, code: "c1", codeExpires: now.Add(codeLifetime)}
	st.mu.Lock()
	if !st.admit(a) {
		t.Fatal("not admitted")
	}
	st.codes["c1"] = "r1"
	st.mu.Unlock()
	s := opStorage{&Provider{store: st, now: func() time.Time { return now }}}
	if _, err := s.AuthRequestByCode(t.Context(), "c1"); err != nil {
		t.Fatal(err)
	}
	if len(st.codes) != 0 || len(st.requests) != 0 || len(st.from) != 0 {
		t.Errorf("left behind: %d codes, %d requests, %d networks", len(st.codes), len(st.requests), len(st.from))
	}
}

func TestOfTwoRedemptionsOfOneRefreshTokenOnlyOneGetsTokens(t *testing.T) {
	st := NewStore()
	now := time.Now()
	p := &Provider{store: st, now: func() time.Time { return now }, cfg: Config{AccessTokenLifetime: time.Minute, RefreshTokenLifetime: time.Hour}}
	s := opStorage{p}
	st.mu.Lock()
	st.addRefresh("rt", &token{clientID: "wiki", jid: "alice@example.org", subject: "s", authTime: now, issued: now, expires: now.Add(time.Hour)})
	st.mu.Unlock()
	req := &refreshRequest{token: token{clientID: "wiki", jid: "alice@example.org", subject: "s", authTime: now}, value: "rt"}
	if _, _, _, err := s.CreateAccessAndRefreshTokens(t.Context(), req, "rt"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.CreateAccessAndRefreshTokens(t.Context(), req, "rt"); err == nil {
		t.Error("a refresh token was redeemed twice")
	}
}
