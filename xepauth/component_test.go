package xepauth

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// Close must return even when it races with a dial that is about to
// succeed: the supervisor then owns a session nobody else knows of.
func TestCloseRightAfterStartReturns(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A server that completes the handshake at once and then says nothing.
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				if _, err := c.Read(buf); err != nil { // the stream header
					return
				}
				fmt.Fprint(c, `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='x1' from='auth.localhost'>`)
				if _, err := c.Read(buf); err != nil { // the handshake
					return
				}
				fmt.Fprint(c, `<handshake/>`)
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	for range 200 {
		c, err := New(Config{Server: l.Addr().String(), Domain: "auth.localhost", Secret: "s"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Start()
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		done := make(chan struct{})
		go func() { c.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("Close hung")
		}
	}
}
