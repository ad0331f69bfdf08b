package caddymodule

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the figures of a dashboard, in Caddy's registry (served at
// the admin endpoint's /metrics): asks by outcome, logins pending, whether
// the component is connected, and sessions checked and refused.
type metrics struct {
	asks     *prometheus.CounterVec
	sessions *prometheus.CounterVec
	// valid and refused are the two sessions counters, looked up once:
	// every request counts in one of them.
	valid, refused prometheus.Counter
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
	if reg != nil {
		var err error
		if m.asks, err = register(reg, m.asks); err != nil {
			return nil, err
		}
		if m.sessions, err = register(reg, m.sessions); err != nil {
			return nil, err
		}
		for _, c := range []prometheus.Collector{pending, connected} {
			if _, err := register(reg, c); err != nil {
				return nil, err
			}
		}
	}
	m.valid = m.sessions.WithLabelValues("valid")
	m.refused = m.sessions.WithLabelValues("refused")
	return m, nil
}

// register registers c in reg, or returns the collector of its name that
// is there already, so that every handler counts into the same one.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	switch {
	case err == nil:
		return c, nil
	case errors.As(err, &are):
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metric: %w", err)
}

// Asked implements login.Metrics.
func (m *metrics) Asked(result string) { m.asks.WithLabelValues(result).Inc() }

// SessionChecked implements login.Metrics.
func (m *metrics) SessionChecked(valid bool) {
	if valid {
		m.valid.Inc()
	} else {
		m.refused.Inc()
	}
}
