package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// demo is everything the demo runs: Prosody with alice logged in, the
// upstream application, and Caddy with the gate in front of it.
type demo struct {
	// listen is the gated site's address, as given to -listen.
	listen   string
	dir      string
	prosody  *xmpptest.Server
	alice    *xmpptest.User
	upstream *upstream

	closers   []closer
	closeOnce sync.Once
	closeErr  error
}

// closer is one step of tearing the demo down, named for its error.
type closer struct {
	what string
	fn   func() error
}

// startDemo starts the pieces in dependency order and returns once a
// visitor can log in. On failure whatever had started is stopped again.
func startDemo(ctx context.Context, listen string, progress io.Writer) (_ *demo, err error) {
	if err := checkListen(listen); err != nil {
		return nil, err
	}
	d := &demo{listen: listen}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.close())
		}
	}()

	// One folder for Prosody's data and Caddy's storage, removed last.
	d.dir, err = os.MkdirTemp("", "xepauth-demo-")
	if err != nil {
		return nil, fmt.Errorf("create the demo's temporary folder: %w", err)
	}
	dir := d.dir
	d.onClose("remove "+dir, func() error { return os.RemoveAll(dir) })

	fmt.Fprintln(progress, "Starting Prosody (XMPP server) and logging in alice@localhost…")
	if err := d.startXMPP(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintln(progress, "Starting the demo application…")
	if d.upstream, err = startUpstream(); err != nil {
		return nil, err
	}
	d.onClose("stop the demo application", d.upstream.close)

	fmt.Fprintln(progress, "Starting Caddy with the xmpp_auth gate…")
	if err := d.startCaddy(); err != nil {
		return nil, err
	}
	if err := waitComponent(ctx, d.alice, d.prosody.ComponentDomain); err != nil {
		return nil, err
	}
	return d, nil
}

// onClose registers a tear-down step; close runs them newest first.
func (d *demo) onClose(what string, fn func() error) {
	d.closers = append(d.closers, closer{what, fn})
}

// close stops everything that was started, in reverse order, and removes
// the temporary folder. It is safe to call more than once.
func (d *demo) close() error {
	d.closeOnce.Do(func() {
		var errs []error
		for i := len(d.closers) - 1; i >= 0; i-- {
			if err := d.closers[i].fn(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.closers[i].what, err))
			}
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

// siteURL is where the visitor opens the gated site.
func (d *demo) siteURL() string { return "http://" + d.listen + "/" }

// printBanner says what runs where and what to do now.
func (d *demo) printBanner(w io.Writer, pol policy) {
	user := demoUser + "@" + d.prosody.Domain
	fmt.Fprintf(w, `
xepauth demo is running.

  XMPP server  Prosody on %s (client port, plaintext), component %s on %s
               account %s, password %s (logged in here as %s)
  Application  %s, the upstream the gate protects
  Files        %s (removed at exit; Prosody's log is prosody/prosody.log)

  >>> Open %s and log in as %s <<<

`, d.prosody.C2SAddr, d.prosody.ComponentDomain, d.prosody.ComponentAddr,
		user, demoPassword, d.alice.JID, d.upstream.url(), d.dir, d.siteURL(), user)
	switch pol {
	case autoApprove:
		fmt.Fprintln(w, "Login requests for alice appear in this terminal and are approved automatically (-auto approve).")
	case autoDeny:
		fmt.Fprintln(w, "Login requests for alice appear in this terminal and are denied automatically (-auto deny).")
	default:
		fmt.Fprintln(w, "Login requests for alice appear in this terminal; answer each with y or n.")
	}
	fmt.Fprintln(w, "Press Ctrl-C to stop Caddy, alice and Prosody.")
	fmt.Fprintln(w)
}

// checkListen refuses a -listen that is not a loopback address with a
// port: the demo account's password is printed on screen, so the gated
// site must not be reachable from other machines.
func checkListen(listen string) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w (want 127.0.0.1:PORT)", listen, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("-listen %q: the port must be a number from 1 to 65535", listen)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %q: the demo only listens on loopback (127.0.0.1:PORT or [::1]:PORT)", listen)
	}
	return nil
}
