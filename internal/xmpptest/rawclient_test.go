package xmpptest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// nextMessage returns the next <message/> c receives, skipping presence
// and the like.
func nextMessage(ctx context.Context, t *testing.T, c *RawClient) string {
	t.Helper()
	for {
		e, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e, "<message") {
			return e
		}
	}
}

func connectRaw(ctx context.Context, t *testing.T, p *Server, local, password string, opts ...RawOption) *RawClient {
	t.Helper()
	c, err := p.ConnectRaw(ctx, local, password, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRawClient(t *testing.T) {
	for _, kind := range []Kind{KindProsody, KindEjabberd} {
		t.Run(string(kind), func(t *testing.T) {
			p := NewServerOf(t, kind, Config{})
			ctx := testCtx(t, 30*time.Second)
			for _, name := range []string{"alice", "bob"} {
				if err := p.Register(ctx, name, name+"pw"); err != nil {
					t.Fatal(err)
				}
			}

			t.Run("binds the resource asked for", func(t *testing.T) {
				c := connectRaw(ctx, t, p, "alice", "alicepw", WithResource("desk"))
				if c.JID() != "alice@localhost/desk" {
					t.Errorf("JID() = %q", c.JID())
				}
			})
			t.Run("gets a resource from the server", func(t *testing.T) {
				c := connectRaw(ctx, t, p, "alice", "alicepw")
				if !strings.HasPrefix(c.JID(), "alice@localhost/") || len(c.JID()) == len("alice@localhost/") {
					t.Errorf("JID() = %q", c.JID())
				}
			})
			t.Run("sends and receives stanzas verbatim", func(t *testing.T) {
				alice := connectRaw(ctx, t, p, "alice", "alicepw", WithResource("a"))
				bob := connectRaw(ctx, t, p, "bob", "bobpw", WithResource("b"))
				if err := alice.Send("<message to='bob@localhost/b' type='chat' id='r1'><body>hello &amp; more</body></message>"); err != nil {
					t.Fatal(err)
				}
				got := nextMessage(ctx, t, bob)
				mustHave(t, got, true, "from='alice@localhost/a'", "id='r1'", "<body>hello &amp; more</body>")
			})
			t.Run("a wrong password is a SASL failure", func(t *testing.T) {
				_, err := p.ConnectRaw(ctx, "alice", "wrong")
				var se *SASLError
				if !errors.As(err, &se) || se.Condition != "not-authorized" {
					t.Fatalf("err = %v, want SASL failure not-authorized", err)
				}
			})
			t.Run("an unknown name is a SASL failure", func(t *testing.T) {
				_, err := p.ConnectRaw(ctx, "nobody", "pw")
				var se *SASLError
				if !errors.As(err, &se) || se.Condition != "not-authorized" {
					t.Fatalf("err = %v, want SASL failure not-authorized", err)
				}
			})
		})
	}
}

// TestServersStampTheSender records how each server writes the address of
// a client that logged in with a name other than its account's canonical
// spelling: both authenticate the stringprep form (Unicode 3.2, so x +
// U+2F874 logs in to x弳, U+5F33); Prosody 0.12 stamps that form (the
// account), while ejabberd 23.01 stamps the name, the domain and the
// resource exactly as the client typed them. A gate that reads ejabberd's
// from attribute therefore reads what the client typed.
func TestServersStampTheSender(t *testing.T) {
	cases := []struct {
		name              string
		account           string // as registered
		local, domain     string // as typed at login ("" domain: Config.Domain)
		resource          string
		prosody, ejabberd string // the from each server stamps
	}{
		{"canonical", "x当", "x当", "", "res",
			"x当@localhost/res", "x当@localhost/res"},
		{"sharp s, which stringprep folds to ss", "aliss", "aliß", "", "res",
			"aliss@localhost/res", "aliß@localhost/res"},
		{"a CJK compatibility ideograph, which stringprep reads as U+5F33", "x弳", "x\U0002F874", "", "res",
			"x弳@localhost/res", "x\U0002F874@localhost/res"},
		{"ASCII capitals in the name and the domain", "alice", "Alice", "LOCALHOST", "Res",
			"alice@localhost/Res", "Alice@LOCALHOST/Res"},
		{"a compatibility ligature in the resource", "alice", "alice", "", "ﬁ",
			"alice@localhost/fi", "alice@localhost/ﬁ"},
	}
	for _, kind := range []Kind{KindProsody, KindEjabberd} {
		t.Run(string(kind), func(t *testing.T) {
			p := NewServerOf(t, kind, Config{})
			ctx := testCtx(t, 60*time.Second)
			// Each account has its own password, so that a login proves
			// which account the server read the typed name as.
			for _, a := range []string{"x当", "aliss", "x弳", "alice", "receiver"} {
				if err := p.Register(ctx, a, a+"pw"); err != nil {
					t.Fatal(err)
				}
			}
			receiver := connectRaw(ctx, t, p, "receiver", "receiverpw", WithResource("r"))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					want := tc.prosody
					if kind == KindEjabberd {
						want = tc.ejabberd
					}
					opts := []RawOption{WithResource(tc.resource)}
					if tc.domain != "" {
						opts = append(opts, WithStreamDomain(tc.domain))
					}
					c, err := p.ConnectRaw(ctx, tc.local, tc.account+"pw", opts...)
					if err != nil {
						t.Fatalf("log in as %+q, account %+q: %v", tc.local, tc.account, err)
					}
					defer c.Close()
					if c.JID() != want {
						t.Errorf("bound %+q, want %+q", c.JID(), want)
					}
					if err := c.Send("<message to='receiver@localhost/r' type='chat'><body>x</body></message>"); err != nil {
						t.Fatal(err)
					}
					if from := attrOf(nextMessage(ctx, t, receiver), "from"); from != want {
						t.Errorf("stamped from %+q, want %+q", from, want)
					} else {
						t.Logf("logged in as %+q: from %+q", tc.local, from)
					}
				})
			}
		})
	}
}
