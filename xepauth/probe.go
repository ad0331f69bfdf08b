package xepauth

import (
	"encoding/xml"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"
)

// Before a new connection carries any ask, it checks that it is the only
// connection on its component domain. Prosody refuses a second one at the
// handshake (conflict), but ejabberd accepts it and hands each stanza for
// the domain to one of the connections at random: two gates sharing a
// domain would each lose about half of their answers, silently. So the
// component sends probeCount messages to its own address and waits for all
// of them: with another connection on the domain, each probe has an even
// chance of going there, and the chance that all of them come back anyway
// is 2^-16.
const (
	probeCount = 16
	// probeTimeout is how long the probes may take. On a working server
	// they come back within milliseconds; a server too slow for this is not
	// fit to carry logins either, and the connection is tried again.
	probeTimeout = 3 * time.Second
	// nsProbe marks the probes, so that a gate that receives another
	// connection's probe can tell the operator.
	nsProbe = "https://github.com/xepauth/caddy-xepauth#probe"
)

// ErrSharedDomain is the error (wrapped, with the probe count) of a
// connection that found another connection on its component domain. The
// component does not use such a connection: it closes it and tries again
// later, so a gate whose twin goes away recovers on its own.
var ErrSharedDomain = errors.New("another connection serves this component domain")

// errNoLoopback is a connection whose probes all went missing.
var errNoLoopback = errors.New("the server does not route the component's own address back to it")

// checkSole sends the probes through the server and reports how many came
// back; it returns an error wrapping ErrSharedDomain when some did not.
func (c *conn) checkSole(timeout time.Duration) error {
	waits := make([]chan struct{}, probeCount)
	ids := make([]string, probeCount)
	c.pingMu.Lock()
	for i := range ids {
		ids[i] = "probe-" + newID()
		waits[i] = make(chan struct{})
		c.pings[ids[i]] = waits[i]
	}
	c.pingMu.Unlock()
	defer func() {
		c.pingMu.Lock()
		for _, id := range ids {
			delete(c.pings, id)
		}
		c.pingMu.Unlock()
	}()

	// A headline: no client or server answers one with an error, so a
	// probe that reaches the other connection stays there and is not
	// bounced back to us, which would hide the other connection.
	for _, id := range ids {
		msg := stanza.Message{ID: id, To: c.domain, From: c.domain, Type: stanza.HeadlineMessage}
		if err := c.send(msg.Wrap(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsProbe, Local: "probe"}}))); err != nil {
			return fmt.Errorf("probe own address: %w", err)
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	got := 0
	for _, w := range waits {
		select {
		case <-w:
			got++
			continue
		case <-c.done:
			return errors.New("probe own address: connection lost")
		case <-timer.C:
		}
		break
	}
	for _, w := range waits[got:] { // count late ones that made it anyway
		select {
		case <-w:
			got++
		default:
		}
	}
	if got == 0 {
		// With another connection on the domain, all 16 going there has
		// odds of 2^-16: this is a server that does not route them back,
		// or not in time.
		return fmt.Errorf("%w: %s: none of %d messages sent to the component's own address came back within %s",
			errNoLoopback, c.domain, probeCount, timeout)
	}
	if got < probeCount {
		return fmt.Errorf("%w: %s: %d of %d messages sent to the component's own address came back within %s",
			ErrSharedDomain, c.domain, got, probeCount, timeout)
	}
	return nil
}

// foreignProbe notes a probe that is not ours: another connection has just
// started on our domain. That one will find out and step back, but the
// operator should hear that two processes claim the domain.
func (c *conn) foreignProbe(id string) {
	c.foreignOnce.Do(func() {
		c.log.Warn("another process connected to the XMPP server as this component; it will find the domain taken and stay off it, but give each gate its own component domain",
			zap.String("domain", c.domain.String()), zap.String("probe", id))
	})
}
