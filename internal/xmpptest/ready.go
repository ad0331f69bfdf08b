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

// errPortTaken reports that the server could not bind one of its ports;
// the error carries the server's complaint.
var errPortTaken = errors.New("the server could not open one of its ports (held by another program?)")

// waitReady returns once the server answers an XMPP stream header on both
// ports and whatever else the implementation waits for. A bare TCP connect
// is not enough: when a port is taken, prosody logs an error and keeps
// running without it, and the connect then reaches whoever holds the port.
// It fails early if the process exits or this run's log (from logStart on)
// reports a port it could not open.
func (s *Server) waitReady(ctx context.Context, done <-chan struct{}, logStart int64) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	exited := func() error {
		// ejabberd gives up when a port is taken; say why rather than
		// merely that it exited.
		if msg := s.portFailure(logStart); msg != "" {
			return fmt.Errorf("%w: %s", errPortTaken, msg)
		}
		return fmt.Errorf("%s exited during start-up", s.Kind)
	}
	probes := []func(context.Context) error{
		func(ctx context.Context) error { return probeStream(ctx, s.C2SAddr, "jabber:client", s.Domain) },
		func(ctx context.Context) error {
			return probeStream(ctx, s.ComponentAddr, nsAccept, s.ComponentDomain)
		},
		func(ctx context.Context) error {
			return s.impl.ready(ctx, func() string { return s.logSince(logStart) })
		},
	}
	for _, probe := range probes {
		for {
			select {
			case <-done:
				return exited()
			default:
			}
			if msg := s.portFailure(logStart); msg != "" {
				return fmt.Errorf("%w: %s", errPortTaken, msg)
			}
			err := probe(ctx)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s to answer: %w (last probe: %v)", s.Kind, ctx.Err(), err)
			case <-done:
				return exited()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	// The server may have reported the failure after a probe reached a
	// stray listener.
	if msg := s.portFailure(logStart); msg != "" {
		return fmt.Errorf("%w: %s", errPortTaken, msg)
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

// portFailure returns the server's complaint about a port it could not
// open in this run's log, or "".
func (s *Server) portFailure(logStart int64) string {
	for _, line := range strings.Split(s.logSince(logStart), "\n") {
		if s.impl.portFailure(line) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// logSince returns the log from offset logStart on, or "" if it cannot be
// read.
func (s *Server) logSince(logStart int64) string {
	f, err := os.Open(s.impl.logPath())
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
	return string(b)
}
