// Command demo shows xepauth end to end on one machine, with nothing to
// set up but Prosody (scripts/demo.sh installs it): it starts a throwaway
// Prosody with the account alice@localhost, a small application, and Caddy
// with the xmpp_auth gate in front of that application. The terminal plays
// alice's XMPP client: each login request appears there, with its code,
// and is approved or denied with one key.
//
// Usage:
//
//	go run ./internal/cmd/demo [-listen 127.0.0.1:8080] [-auto approve|deny]
//
// Everything listens on loopback only, and everything is stopped and
// removed on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

func main() {
	os.Exit(mainCode())
}

// mainCode is main without os.Exit, so deferred clean-up runs first.
func mainCode() int {
	listen := flag.String("listen", "127.0.0.1:8080", "`address` of the gated demo site (loopback only)")
	auto := flag.String("auto", "", "answer every login request without asking: `approve` or deny (default: ask in this terminal)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "demo: unexpected argument %q\n", flag.Arg(0))
		flag.Usage()
		return 2
	}
	pol, err := parsePolicy(*auto)
	if err == nil {
		err = checkListen(*listen)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 2
	}

	// SIGHUP too: closing the terminal window must still stop Prosody and
	// remove the temporary folder.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if err := run(ctx, stop, *listen, pol, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		if errors.Is(err, xmpptest.ErrNoProsody) {
			fmt.Fprintln(os.Stderr, "demo: ./scripts/demo.sh installs Prosody before starting the demo.")
		}
		return 1
	}
	return 0
}

// run starts the demo, answers login requests until ctx ends or Ctrl-C,
// and stops everything. unhook gives signals back their default action
// once shutdown has begun, so a second Ctrl-C ends a stuck shutdown.
func run(ctx context.Context, unhook func(), listen string, pol policy, in *os.File, out io.Writer) error {
	var keys *keyboard
	if pol == ask {
		keys = openKeyboard(in, out)
		defer keys.close()
	}

	d, err := startDemo(ctx, listen, out)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(out, "Interrupted while starting; everything started so far is stopped.")
			return nil
		}
		return err
	}
	d.printBanner(out, pol)

	a := &approver{alice: d.alice, policy: pol, keys: keys, out: out}
	err = a.run(ctx)
	unhook()
	if errors.Is(err, errInterrupted) {
		err = nil
	}
	fmt.Fprintln(out, "\nStopping Caddy, alice and Prosody…")
	if cerr := d.close(); cerr != nil {
		return errors.Join(err, fmt.Errorf("stop the demo: %w", cerr))
	}
	if err == nil {
		fmt.Fprintln(out, "Stopped; the temporary files are removed.")
	}
	return err
}
