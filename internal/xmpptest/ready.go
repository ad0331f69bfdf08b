package xmpptest

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// errPortTaken reports that prosody could not bind one of its ports; the
// log tail attached by the caller names it.
var errPortTaken = errors.New("prosody could not open one of its ports (held by another program?)")

// waitReady returns once prosody answers an XMPP stream header on both
// ports. A bare TCP connect is not enough: when a port is taken, prosody
// logs an error and keeps running without it, and the connect then reaches
// whoever holds the port. It fails early if the process exits or this
// run's log (from logStart on) reports a port it could not open.
func (p *Prosody) waitReady(ctx context.Context, done <-chan struct{}, logStart int64) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	probes := []struct{ addr, ns, to string }{
		{p.C2SAddr, "jabber:client", p.Domain},
		{p.ComponentAddr, nsAccept, p.ComponentDomain},
	}
	for _, pr := range probes {
		for {
			select {
			case <-done:
				return errors.New("prosody exited during start-up")
			default:
			}
			if msg := p.portFailure(logStart); msg != "" {
				return errPortTaken
			}
			err := probeStream(ctx, pr.addr, pr.ns, pr.to)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w (last probe: %v)", pr.addr, ctx.Err(), err)
			case <-done:
				return errors.New("prosody exited during start-up")
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	// Prosody may have reported the failure after a probe reached a stray
	// listener.
	if msg := p.portFailure(logStart); msg != "" {
		return errPortTaken
	}
	return nil
}

// probeStream opens an XMPP stream on addr and checks that the reply is a
// stream header.
func probeStream(ctx context.Context, addr, ns, to string) error {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)

	var header strings.Builder
	header.WriteString("<?xml version='1.0'?><stream:stream xmlns='" + ns + "' xmlns:stream='" + nsStream + "' version='1.0' to='")
	_ = xml.EscapeText(&header, []byte(to))
	header.WriteString("'>")
	if _, err := io.WriteString(conn, header.String()); err != nil {
		return err
	}
	d := xml.NewDecoder(conn)
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Space == nsStream && se.Name.Local == "stream" {
				return nil
			}
			return fmt.Errorf("got <%s> instead of a stream header", se.Name.Local)
		}
	}
}

// portFailure returns prosody's complaint about a port it could not open in
// this run's log, or "".
func (p *Prosody) portFailure(logStart int64) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(logStart, io.SeekStart); err != nil {
		return ""
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "Failed to open server port") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
