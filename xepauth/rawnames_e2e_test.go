package xepauth_test

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
	"github.com/xepauth/caddy-xepauth/xepauth"
)

// These tests log in to a real ejabberd with names typed otherwise than
// their account's canonical spelling. ejabberd 23.01 authenticates the
// stringprep form of the name but stamps the client's stanzas with the
// name as typed (xmpptest.TestServersStampTheSender), while the gate reads
// addresses with PRECIS. Where the two readings differ, the typed name can
// make the gate read someone else's address:
//
//   - x + U+2F874, a CJK compatibility ideograph, is x弳 (U+5F33) for
//     stringprep, the account whose password the attacker has, and x当
//     (U+5F53) for PRECIS, someone else's account;
//   - aliß is aliss for stringprep and aliß for PRECIS: an alias, which
//     gets past rules that name aliss.
//
// None of these answers may approve, and each must be logged as a warning.

const (
	victim   = "x当" // U+5F53, the account asked
	attacker = "x弳" // U+5F33, the account whose password the attacker has
	// respelled is how the attacker types his name at login: stringprep
	// (Unicode 3.2) reads U+2F874 as U+5F33, PRECIS (NFC) as U+5F53.
	respelled = "x\U0002F874"
)

// rawRig is a rig on a server of the given kind with the accounts of the
// attacks registered, each with its own password (its name + "pw"), so that
// a login proves which account the server read the typed name as.
func rawRig(t *testing.T, kind xmpptest.Kind, accounts ...string) *rig {
	t.Helper()
	p := xmpptest.NewServerOf(t, kind, xmpptest.Config{})
	r := startComponent(t, p, xepauth.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, a := range accounts {
		if err := p.Register(ctx, a, a+"pw"); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// rawLogin logs in a raw client to account with the name exactly as
// typed, bound to resource "res", and closes it when the test ends.
func rawLogin(t *testing.T, r *rig, account, typed string, opts ...xmpptest.RawOption) *xmpptest.RawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := r.p.ConnectRaw(ctx, typed, account+"pw", append([]xmpptest.RawOption{xmpptest.WithResource("res")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pendingAsk is an ask running in the background until it is answered or
// cancelled.
type pendingAsk struct {
	code   string
	done   chan xepauth.Outcome
	cancel context.CancelFunc
}

func (r *rig) askInBackground(t *testing.T, j string) *pendingAsk {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	a := &pendingAsk{code: xepauth.NewCode(6), done: make(chan xepauth.Outcome, 1), cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		a.done <- r.comp.Ask(ctx, xepauth.Request{JID: jid.MustParse(j), Site: "wiki.example.org", URL: "https://wiki.example.org/", Method: "GET", Code: a.code})
	}()
	return a
}

// received is what a test reads of a stanza a raw client got.
type received struct {
	XMLName xml.Name
	ID      string `xml:"id,attr"`
	Thread  string `xml:"thread"`
}

// nextAsk waits for the gate's request (an iq or a message carrying a
// <confirm/>) to reach c.
func nextAsk(t *testing.T, c *xmpptest.RawClient) received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		raw, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("%s got no request: %v", c.JID(), err)
		}
		if !strings.Contains(raw, "http://jabber.org/protocol/http-auth") {
			continue // presence
		}
		var v received
		if err := xml.Unmarshal([]byte(raw), &v); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return v
	}
}

// wantDropped waits until the gate has logged a warning containing
// snippet, then ends the ask and fails the test if it was approved: the
// dropped answer leaves the ask pending, so ending it shows that nothing
// approved it. An approval that comes instead of the warning fails at once.
func (r *rig) wantDropped(t *testing.T, a *pendingAsk, snippet string) {
	t.Helper()
	warned := func() bool {
		return r.logs.FilterLevelExact(zap.WarnLevel).FilterMessageSnippet(snippet).Len() > 0
	}
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !warned() {
		select {
		case o := <-a.done:
			t.Fatalf("the ask ended as %v (%+v) before any warning %q was logged:\n%v", o.Result, o, snippet, r.logs.All())
		case <-deadline:
			t.Fatalf("no warning %q logged:\n%v", snippet, r.logs.All())
		case <-tick.C:
		}
	}
	a.cancel()
	if o := <-a.done; o.Result != xepauth.Timeout && o.Result != xepauth.Denied {
		t.Fatalf("the ask ended as %v (%+v), want it still pending until cancelled", o.Result, o)
	}
}

func (r *rig) wantApproved(t *testing.T, a *pendingAsk, via string) xepauth.Outcome {
	t.Helper()
	select {
	case o := <-a.done:
		wantResult(t, o, xepauth.Approved, via)
		if n := r.logs.FilterLevelExact(zap.WarnLevel).Len(); n != 0 {
			t.Errorf("%d warnings for a genuine answer:\n%v", n, r.logs.All())
		}
		return o
	case <-time.After(10 * time.Second):
		t.Fatalf("no outcome:\n%v", r.logs.All())
		return xepauth.Outcome{}
	}
}

func TestARespelledNameCannotApproveAnotherAccountByTypingTheCode(t *testing.T) {
	r := rawRig(t, xmpptest.KindEjabberd, victim, attacker)
	owner := rawLogin(t, r, victim, victim) // online, so the ask waits for an answer
	mallory := rawLogin(t, r, attacker, respelled)

	a := r.askInBackground(t, victim+"@localhost")
	nextAsk(t, owner)
	// The code is on the login page, which the attacker is looking at.
	if err := mallory.Send("<message to='auth.localhost' type='chat'><body>" + a.code + "</body></message>"); err != nil {
		t.Fatal(err)
	}
	r.wantDropped(t, a, "not in canonical form")
}

func TestARespelledNameCannotApproveAnotherAccountByIQResult(t *testing.T) {
	r := rawRig(t, xmpptest.KindEjabberd, victim, attacker)
	owner := rawLogin(t, r, victim, victim)
	mallory := rawLogin(t, r, attacker, respelled)
	if !strings.HasSuffix(mallory.JID(), "/res") {
		t.Fatalf("bound %+q", mallory.JID())
	}

	// The full JID the attacker's address reads as under PRECIS.
	a := r.askInBackground(t, victim+"@localhost/res")
	got := nextAsk(t, owner)
	if got.XMLName.Local != "iq" {
		t.Fatalf("the owner was asked by %s", got.XMLName.Local)
	}
	// The iq's id is not on the login page; suppose it leaked anyway.
	if err := mallory.Send("<iq type='result' to='auth.localhost' id='" + got.ID + "'/>"); err != nil {
		t.Fatal(err)
	}
	r.wantDropped(t, a, "not in canonical form")
}

func TestARespelledNameCannotApproveAnotherAccountByConfirmMessage(t *testing.T) {
	r := rawRig(t, xmpptest.KindEjabberd, victim, attacker)
	owner := rawLogin(t, r, victim, victim)
	mallory := rawLogin(t, r, attacker, respelled)

	a := r.askInBackground(t, victim+"@localhost")
	got := nextAsk(t, owner)
	if got.XMLName.Local != "message" || got.Thread == "" {
		t.Fatalf("the owner was asked by %+v", got)
	}
	if err := mallory.Send("<message to='auth.localhost'><thread>" + got.Thread + "</thread>" +
		"<confirm xmlns='http://jabber.org/protocol/http-auth' id='" + a.code + "' method='GET' url='https://wiki.example.org/'/></message>"); err != nil {
		t.Fatal(err)
	}
	r.wantDropped(t, a, "not in canonical form")
}

// The account aliss logs in as aliß: ejabberd delivers the ask for
// aliß@localhost to aliss (stringprep reads them as one) and stamps the
// answer aliß@localhost/res, which is canonical for PRECIS. The callers
// refuse to ask aliß (Unambiguous); the component does not approve either.
func TestAFoldedNameCannotApproveAsItsAlias(t *testing.T) {
	r := rawRig(t, xmpptest.KindEjabberd, "aliss")
	aliss := rawLogin(t, r, "aliss", "aliß")

	t.Run("by message", func(t *testing.T) {
		a := r.askInBackground(t, "aliß@localhost")
		got := nextAsk(t, aliss)
		if err := aliss.Send("<message to='auth.localhost'><thread>" + got.Thread + "</thread>" +
			"<confirm xmlns='http://jabber.org/protocol/http-auth' id='" + a.code + "' method='GET' url='https://wiki.example.org/'/></message>"); err != nil {
			t.Fatal(err)
		}
		r.wantDropped(t, a, "stringprep")
	})
	t.Run("by iq", func(t *testing.T) {
		a := r.askInBackground(t, "aliß@localhost/res")
		got := nextAsk(t, aliss)
		if err := aliss.Send("<iq type='result' to='auth.localhost' id='" + got.ID + "'/>"); err != nil {
			t.Fatal(err)
		}
		r.wantDropped(t, a, "stringprep")
	})
}

// The control: a client logged in with the canonical name, or with ASCII
// capitals in the name and the domain, approves, on either server.
func TestCanonicalAndCapitalisedNamesApprove(t *testing.T) {
	for _, kind := range []xmpptest.Kind{xmpptest.KindProsody, xmpptest.KindEjabberd} {
		t.Run(string(kind), func(t *testing.T) {
			r := rawRig(t, kind, victim, "alice")
			owner := rawLogin(t, r, victim, victim)
			alice := rawLogin(t, r, "alice", "Alice", xmpptest.WithStreamDomain("LOCALHOST"))
			t.Logf("bound %+q and %+q", owner.JID(), alice.JID())

			t.Run("canonical name by message", func(t *testing.T) {
				a := r.askInBackground(t, victim+"@localhost")
				got := nextAsk(t, owner)
				if err := owner.Send("<message to='auth.localhost'><thread>" + got.Thread + "</thread>" +
					"<confirm xmlns='http://jabber.org/protocol/http-auth' id='" + a.code + "' method='GET' url='https://wiki.example.org/'/></message>"); err != nil {
					t.Fatal(err)
				}
				o := r.wantApproved(t, a, "message")
				if o.By.Bare().String() != victim+"@localhost" {
					t.Errorf("approved by %v", o.By)
				}
			})
			t.Run("canonical name by iq", func(t *testing.T) {
				a := r.askInBackground(t, victim+"@localhost/res")
				got := nextAsk(t, owner)
				if err := owner.Send("<iq type='result' to='auth.localhost' id='" + got.ID + "'/>"); err != nil {
					t.Fatal(err)
				}
				r.wantApproved(t, a, "iq")
			})
			t.Run("capitals by plain-text code", func(t *testing.T) {
				a := r.askInBackground(t, "alice@localhost")
				nextAsk(t, alice)
				if err := alice.Send("<message to='auth.localhost' type='chat'><body>" + a.code + "</body></message>"); err != nil {
					t.Fatal(err)
				}
				r.wantApproved(t, a, "plaintext")
			})
			t.Run("capitals by iq", func(t *testing.T) {
				a := r.askInBackground(t, "alice@localhost/res")
				got := nextAsk(t, alice)
				if err := alice.Send("<iq type='result' to='auth.localhost' id='" + got.ID + "'/>"); err != nil {
					t.Fatal(err)
				}
				o := r.wantApproved(t, a, "iq")
				if o.By.String() != "alice@localhost/res" {
					t.Errorf("approved by %v", o.By)
				}
			})
		})
	}
}
