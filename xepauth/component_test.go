package xepauth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"mellium.im/xmpp/jid"
)

// fakeServer listens on loopback and, for every connection, does the
// server's part of the XEP-0114 handshake (unless silent) and then runs
// after. It counts connections. These misbehaving servers are what the
// supervisor must survive; real Prosody cannot be made to misbehave so.
func fakeServer(t *testing.T, silent bool, after func(net.Conn, *bufio.Reader)) (string, *atomic.Int32) {
	t.Helper()
	return fakeServerProbes(t, silent, func(int) bool { return true }, after)
}

// fakeServerProbes is fakeServer, routing back to the component only the
// probes of its own address (see probe.go) for which back returns true: a
// probe not routed back is one that a server like ejabberd handed to
// another connection on the same domain.
func fakeServerProbes(t *testing.T, silent bool, back func(i int) bool, after func(net.Conn, *bufio.Reader)) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				if silent {
					_, _ = io.Copy(io.Discard, r)
					return
				}
				if !readPast(r, "stream:stream") || !readPast(r, ">") { // the stream header
					return
				}
				fmt.Fprint(c, `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='x1' from='auth.localhost'>`)
				if !readPast(r, "</handshake>") {
					return
				}
				fmt.Fprint(c, `<handshake/>`)
				for i := range probeCount {
					var msg strings.Builder
					if !readPastInto(r, "</message>", &msg) {
						return
					}
					if back(i) {
						fmt.Fprint(c, msg.String())
					}
				}
				after(c, r)
			}()
		}
	}()
	return l.Addr().String(), &n
}

// readPast reads up to and including the first occurrence of s.
func readPast(r *bufio.Reader, s string) bool {
	return readPastInto(r, s, new(strings.Builder))
}

// readPastInto is readPast, keeping what it read in seen.
func readPastInto(r *bufio.Reader, s string, seen *strings.Builder) bool {
	for !strings.HasSuffix(seen.String(), s) {
		b, err := r.ReadByte()
		if err != nil {
			return false
		}
		seen.WriteByte(b)
	}
	return true
}

func idle(c net.Conn, r *bufio.Reader) { _, _ = io.Copy(io.Discard, r) }

func newTestComponent(t *testing.T, cfg Config) *Component {
	t.Helper()
	cfg.Domain, cfg.Secret = "auth.localhost", "s"
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// closes reports whether Close returns within d.
func closes(c *Component, d time.Duration) bool {
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// Close must return even when it races with a dial that is about to
// succeed: the supervisor then owns a session nobody else knows of.
func TestCloseRightAfterStartReturns(t *testing.T) {
	addr, _ := fakeServer(t, false, idle)
	for range 200 {
		c := newTestComponent(t, Config{Server: addr})
		c.Start()
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		if !closes(c, 2*time.Second) {
			t.Fatal("Close hung")
		}
	}
}

// A server that accepts the connection and never answers must not hold
// the dial, nor Close (and with it a Caddy reload), forever.
func TestDialGivesUpOnASilentServer(t *testing.T) {
	addr, n := fakeServer(t, true, nil)
	c := newTestComponent(t, Config{Server: addr, DialTimeout: 100 * time.Millisecond, MinBackoff: 10 * time.Millisecond})
	c.Start()
	time.Sleep(600 * time.Millisecond)
	if n.Load() < 2 {
		t.Errorf("%d dials in 600ms: the first one never gave up", n.Load())
	}
	if !closes(c, time.Second) {
		t.Fatal("Close hung on a silent server")
	}
}

// A server that stops reading fills the socket buffers; writes then block.
// Asks must still end at their own deadline, and the blocked write must
// take the connection down so the supervisor redials.
func TestAsksEndOnTimeWhenTheServerStopsReading(t *testing.T) {
	addr, n := fakeServer(t, false, func(c net.Conn, r *bufio.Reader) {
		// Flood requests that need answers and never read again.
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(c, `<iq type='get' id='d%d' from='x@localhost/r' to='auth.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, i); err != nil {
				return
			}
		}
	})
	c := newTestComponent(t, Config{Server: addr, WriteTimeout: 300 * time.Millisecond, KeepAlive: -1})
	c.Start()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	// Asks far larger than any socket buffers, so that writing them must
	// block whatever the kernel's buffer sizes and the machine's speed.
	big := "https://s/" + strings.Repeat("x", 4<<20)
	for range 5 {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		o := c.Ask(ctx, Request{JID: jid.MustParse("alice@localhost"), URL: big, Method: "GET", Code: "ABC234"})
		cancel()
		if d := time.Since(start); d > time.Second {
			t.Fatalf("an ask with a 200ms deadline took %v (%v)", d, o.Result)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for n.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n.Load() < 2 {
		t.Fatal("a server that stopped reading was never dropped and redialled")
	}
}

// A server that drops every session right after the handshake must be
// redialled with backoff, not in a tight loop.
func TestRedialBacksOffWhenSessionsDropAtOnce(t *testing.T) {
	addr, n := fakeServer(t, false, func(c net.Conn, r *bufio.Reader) {
		fmt.Fprint(c, `</stream:stream>`)
	})
	c := newTestComponent(t, Config{Server: addr, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	c.Start()
	time.Sleep(1500 * time.Millisecond)
	c.Close()
	// 100+200+400+800ms of backoff fit about 4 or 5 dials in 1.5s.
	if got := n.Load(); got < 2 || got > 6 {
		t.Errorf("%d sessions in 1.5s, want between 2 and 6", got)
	}
}

// A server that hands some stanzas for the domain to another connection,
// as ejabberd does when two gates share a component domain, must not get
// a gate that silently loses half of its answers: the connection is not
// used, the cause is logged once at ERROR with what to do, and the
// component keeps trying in case the other connection goes away.
func TestASharedComponentDomainIsRefused(t *testing.T) {
	addr, n := fakeServerProbes(t, false, func(i int) bool { return i%2 == 0 }, idle)
	core, logs := observer.New(zap.DebugLevel)
	c, err := New(Config{Server: addr, Domain: "auth.localhost", Secret: "s", MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	c.probeTimeout = 200 * time.Millisecond
	c.Start()
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for n.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n.Load() < 3 {
		t.Fatalf("%d connections: the component stopped trying", n.Load())
	}
	if c.Connected() {
		t.Fatal("the component uses a connection whose domain another connection shares")
	}
	if err := c.Err(); !errors.Is(err, ErrSharedDomain) || !strings.Contains(err.Error(), " of 16 messages sent to the component's own address came back within 200ms") {
		t.Errorf("Err() = %v, want ErrSharedDomain with the probe count", err)
	}
	errs := logs.FilterLevelExact(zap.ErrorLevel).All()
	if len(errs) != 1 || !strings.Contains(fmt.Sprint(errs[0].ContextMap()["hint"]), "its own component domain") {
		t.Errorf("want one ERROR line with the hint, got %d: %v", len(errs), errs)
	}
}

// The gate already on the domain hears of the newcomer: one WARN line.
func TestAProbeFromAnotherConnectionIsReported(t *testing.T) {
	addr, _ := fakeServer(t, false, func(c net.Conn, r *bufio.Reader) {
		for i := range 3 {
			fmt.Fprintf(c, `<message type='headline' id='probe-other%d' from='auth.localhost' to='auth.localhost'><probe xmlns='%s'/></message>`, i, nsProbe)
		}
		idle(c, r)
	})
	core, logs := observer.New(zap.DebugLevel)
	c, err := New(Config{Server: addr, Domain: "auth.localhost", Secret: "s"}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterLevelExact(zap.WarnLevel).Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	warns := logs.FilterLevelExact(zap.WarnLevel).All()
	if len(warns) != 1 || !strings.Contains(warns[0].Message, "another process connected") {
		t.Fatalf("want one WARN about the other process, got %v", warns)
	}
	if !c.Connected() {
		t.Error("the gate already on the domain stepped back")
	}
}

// A server that routes none of the probes back is not taken for a shared
// domain: it gets its own cause.
func TestAServerThatLoopsNothingBackIsNotASharedDomain(t *testing.T) {
	addr, _ := fakeServerProbes(t, false, func(int) bool { return false }, idle)
	c := newTestComponent(t, Config{Server: addr, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	c.probeTimeout = 100 * time.Millisecond
	c.Start()
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for c.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Err(); !errors.Is(err, errNoLoopback) || errors.Is(err, ErrSharedDomain) || c.Connected() {
		t.Errorf("Err() = %v, connected %v; want the no-loopback cause", err, c.Connected())
	}
}
