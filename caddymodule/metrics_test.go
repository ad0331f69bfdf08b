package caddymodule

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

func TestMetricsCountAsksAndSessionsAndShowTheComponent(t *testing.T) {
	sh, err := newShared(xepauth.Config{Server: "127.0.0.1:1", Domain: "auth.example.org", Secret: "s"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sh.Destruct() })
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, sh)
	if err != nil {
		t.Fatal(err)
	}
	// A second handler of the same config takes the metrics already
	// there, and counts into them.
	other, err := newMetrics(reg, sh)
	if err != nil {
		t.Fatalf("registering again: %v", err)
	}
	m.Asked("approved")
	other.Asked("approved")
	m.Asked("denied")
	m.SessionChecked(true)
	other.SessionChecked(false)
	want := `
# HELP caddy_xmpp_auth_asks_total Logins asked over XMPP that have ended, by result: approved, denied, timeout, unreachable.
# TYPE caddy_xmpp_auth_asks_total counter
caddy_xmpp_auth_asks_total{result="approved"} 2
caddy_xmpp_auth_asks_total{result="denied"} 1
# HELP caddy_xmpp_auth_component_connected 1 while the XMPP component connection is up, else 0.
# TYPE caddy_xmpp_auth_component_connected gauge
caddy_xmpp_auth_component_connected 0
# HELP caddy_xmpp_auth_logins_pending Logins waiting for their answer.
# TYPE caddy_xmpp_auth_logins_pending gauge
caddy_xmpp_auth_logins_pending 0
# HELP caddy_xmpp_auth_sessions_checked_total Requests whose session was checked, by outcome: valid, or refused (no valid session).
# TYPE caddy_xmpp_auth_sessions_checked_total counter
caddy_xmpp_auth_sessions_checked_total{outcome="refused"} 1
caddy_xmpp_auth_sessions_checked_total{outcome="valid"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
