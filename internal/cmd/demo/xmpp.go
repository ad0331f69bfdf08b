package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

const (
	// demoUser and demoPassword are the one account the demo creates. The
	// password is no secret: the server listens on loopback only and its
	// data is thrown away at exit.
	demoUser     = "alice"
	demoPassword = "alicepw"

	// componentWait bounds how long start-up waits for the gate's
	// component connection; it is usually up within a few milliseconds.
	componentWait = 15 * time.Second
)

// startXMPP starts Prosody in d.dir, creates alice and logs her in as the
// terminal approver. Silent: the scripted user must not answer by itself,
// so that every answer is the one typed (or the -auto policy).
func (d *demo) startXMPP(ctx context.Context) error {
	p, err := xmpptest.StartServer(ctx, xmpptest.KindProsody, xmpptest.Config{
		// The demo's own folder, not one xmpptest makes, so that the
		// Caddy storage and Prosody's data go away together in close.
		Dir: filepath.Join(d.dir, "prosody"),
	})
	if err != nil {
		return fmt.Errorf("start Prosody: %w", err)
	}
	d.prosody = p
	d.onClose("stop Prosody", p.Stop)

	if err := p.Register(ctx, demoUser, demoPassword); err != nil {
		return fmt.Errorf("create the demo account: %w", err)
	}
	alice, err := p.Connect(ctx, demoUser, demoPassword, xmpptest.Silent)
	if err != nil {
		return fmt.Errorf("log in as %s@%s: %w", demoUser, p.Domain, err)
	}
	d.alice = alice
	d.onClose("log out "+alice.JID.String(), alice.Close)
	return nil
}

// waitComponent pings the gate's component as alice until it answers.
// Caddy connects the component in the background, so without this wait a
// visitor (or the test) who is quick would meet the "XMPP server
// unreachable" page. Prosody answers service-unavailable for a component
// that is not connected; the component itself answers XEP-0199 pings.
func waitComponent(ctx context.Context, u *xmpptest.User, domain string) error {
	to, err := jid.Parse(domain)
	if err != nil {
		return fmt.Errorf("component address %q: %w", domain, err)
	}
	ctx, cancel := context.WithTimeout(ctx, componentWait)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		up, err := pingOnce(ctx, u, to)
		if up {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("prosody says it is not connected")
			}
			return fmt.Errorf("the gate's XMPP component %s did not connect within %s: %w", domain, componentWait, err)
		case <-tick.C:
		}
	}
}

// pingOnce sends one XEP-0199 ping to addr and reports whether a result
// came back.
func pingOnce(ctx context.Context, u *xmpptest.User, to jid.JID) (bool, error) {
	ping := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:xmpp:ping", Local: "ping"}})
	resp, err := u.Session().SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ, To: to}.Wrap(ping))
	if err != nil {
		return false, fmt.Errorf("ping %s: %w", to, err)
	}
	// The reply must be closed, or the session's Serve loop stays blocked
	// handing it over.
	defer resp.Close()
	tok, err := resp.Token()
	if err != nil {
		return false, fmt.Errorf("read the ping reply from %s: %w", to, err)
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return false, fmt.Errorf("ping reply from %s: unexpected %T", to, tok)
	}
	for _, a := range start.Attr {
		if a.Name.Local == "type" {
			return a.Value == "result", nil
		}
	}
	return false, fmt.Errorf("ping reply from %s has no type", to)
}
