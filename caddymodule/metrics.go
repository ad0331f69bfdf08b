package caddymodule

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the figures of a dashboard, in Caddy's registry (served at
// the admin endpoint's /metrics): asks by outcome, logins pending, whether
// the component is connected, and sessions checked and refused.
type metrics struct {
	asks     *prometheus.CounterVec
	sessions *prometheus.CounterVec
}

const metricsNamespace = "caddy_xmpp_auth"

// newMetrics registers the metrics in reg, or takes the ones a handler of
// the same config registered already. The gauges read the shared
// Service and component, which outlive the config; the counters start
// again with each config, as Caddy's own do.
func newMetrics(reg *prometheus.Registry, sh *shared) (*metrics, error) {
	m := &metrics{
		asks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "asks_total",
			Help: "Logins asked over XMPP that have ended, by result: approved, denied, timeout, unreachable.",
		}, []string{"result"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "sessions_checked_total",
			Help: "Requests whose session was checked, by outcome: valid, or refused (no valid session).",
		}, []string{"outcome"}),
	}
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "logins_pending",
		Help: "Logins waiting for their answer.",
	}, func() float64 { return float64(sh.svc.Pending()) })
	connected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "component_connected",
		Help: "1 while the XMPP component connection is up, else 0.",
	}, func() float64 {
		if sh.comp.Connected() {
			return 1
		}
		return 0
	})
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.asks, m.sessions, pending, connected} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

// Asked implements login.Metrics.
func (m *metrics) Asked(result string) { m.asks.WithLabelValues(result).Inc() }

// SessionChecked implements login.Metrics.
func (m *metrics) SessionChecked(valid bool) {
	outcome := "refused"
	if valid {
		outcome = "valid"
	}
	m.sessions.WithLabelValues(outcome).Inc()
}
