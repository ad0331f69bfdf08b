package xepauth

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// fakeServer listens on loopback and, for every connection, does the
// server's part of the XEP-0114 handshake (unless silent) and then runs
// after. It counts connections. These misbehaving servers are what the
// supervisor must survive; real Prosody cannot be made to misbehave so.
func fakeServer(t *testing.T, silent bool, after func(net.Conn, *bufio.Reader)) (string, *atomic.Int32) {
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
				after(c, r)
			}()
		}
	}()
	return l.Addr().String(), &n
}

// readPast reads up to and including the first occurrence of s.
func readPast(r *bufio.Reader, s string) bool {
	var seen []byte
	for !strings.HasSuffix(string(seen), s) {
		b, err := r.ReadByte()
		if err != nil {
			return false
		}
		seen = append(seen, b)
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
