package xmpptest

import (
	"context"
	"encoding/xml"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// wireLog makes every test user print its XML traffic, for debugging:
// XMPPTEST_WIRE=1 go test -v ./internal/xmpptest/
func userOpts() []UserOption {
	if os.Getenv("XMPPTEST_WIRE") != "" {
		return []UserOption{WithWireLog(os.Stderr)}
	}
	return nil
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// sendConfirmIQ sends an XEP-0070 iq get from u to the full JID `to` and
// returns the reply's type, the <confirm/> it echoed (if any) and the stanza
// error (if type=error).
func sendConfirmIQ(ctx context.Context, u *User, to jid.JID, c confirm) (string, *confirm, error) {
	iq := stanza.IQ{Type: stanza.GetIQ, To: to}
	resp, err := u.Session().SendIQ(ctx, iq.Wrap(confirmTokens(c)))
	if err != nil {
		return "", nil, err
	}
	defer resp.Close()
	// Replay the reply twice: once for the iq's type and error, once for
	// the echoed payload.
	var toks []xml.Token
	for {
		tok, err := resp.Token()
		if tok != nil { // readers may return the last token with io.EOF
			toks = append(toks, xml.CopyToken(tok))
		}
		if err != nil {
			break
		}
	}
	if len(toks) == 0 {
		return "", nil, errors.New("empty reply")
	}
	start, _ := toks[0].(xml.StartElement)
	reply, serr := stanza.UnmarshalIQError(&sliceReader{toks: append([]xml.Token(nil), toks[1:]...)}, start)
	if serr != nil && !errors.As(serr, new(stanza.Error)) {
		return "", nil, serr
	}
	var v struct {
		Confirm *confirm `xml:"http://jabber.org/protocol/http-auth confirm"`
	}
	if err := xml.NewTokenDecoder(&sliceReader{toks: toks}).Decode(&v); err != nil {
		return "", nil, err
	}
	return string(reply.Type), v.Confirm, serr
}

func TestIQBehaviours(t *testing.T) {
	p := NewProsody(t, Config{})
	alice := p.NewUser(t, "alice", Silent, userOpts()...)
	bob := p.NewUser(t, "bob", Approve, userOpts()...)
	if bob.JID.Resourcepart() == "" || bob.JID.Bare().String() != "bob@localhost" {
		t.Fatalf("bob's JID = %s, want bob@localhost/<resource>", bob.JID)
	}
	c := confirm{ID: "ABCD", Method: "GET", URL: "https://example.org/"}

	t.Run("approve", func(t *testing.T) {
		ctx := testCtx(t, 5*time.Second)
		typ, echoed, err := sendConfirmIQ(ctx, alice, bob.JID, c)
		if err != nil || typ != "result" {
			t.Fatalf("reply type %q, err %v; want result", typ, err)
		}
		if echoed == nil || *echoed != c {
			t.Errorf("echoed confirm = %+v, want %+v", echoed, c)
		}
		req, err := bob.NextRequest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := Request{Kind: "iq", From: alice.JID.String(), ID: c.ID, Method: c.Method, URL: c.URL, StanzaID: req.StanzaID}
		if req != want || req.StanzaID == "" {
			t.Errorf("request = %+v, want %+v", req, want)
		}
	})

	t.Run("deny", func(t *testing.T) {
		bob.SetBehaviour(Deny)
		ctx := testCtx(t, 5*time.Second)
		typ, echoed, err := sendConfirmIQ(ctx, alice, bob.JID, c)
		if typ != "error" || !errors.Is(err, stanza.Error{Type: stanza.Auth, Condition: stanza.NotAuthorized}) {
			t.Fatalf("reply type %q, err %#v; want error auth/not-authorized", typ, err)
		}
		if echoed == nil || *echoed != c {
			t.Errorf("echoed confirm = %+v, want %+v", echoed, c)
		}
		if _, err := bob.NextRequest(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("plaintext", func(t *testing.T) {
		bob.SetBehaviour(PlainText)
		ctx := testCtx(t, 5*time.Second)
		typ, _, err := sendConfirmIQ(ctx, alice, bob.JID, c)
		if typ != "error" || !errors.Is(err, stanza.Error{Condition: stanza.ServiceUnavailable}) {
			t.Fatalf("reply type %q, err %#v; want service-unavailable", typ, err)
		}
		if _, err := bob.NextRequest(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("silent", func(t *testing.T) {
		bob.SetBehaviour(Silent)
		ctx := testCtx(t, 5*time.Second)
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		typ, _, err := sendConfirmIQ(short, alice, bob.JID, c)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("reply type %q, err %v; want no reply (deadline exceeded)", typ, err)
		}
		if _, err := bob.NextRequest(ctx); err != nil {
			t.Fatal(err)
		}
		// The session must still work after swallowing the iq.
		bob.SetBehaviour(Approve)
		if typ, _, err := sendConfirmIQ(ctx, alice, bob.JID, c); err != nil || typ != "result" {
			t.Fatalf("after silent: reply type %q, err %v", typ, err)
		}
	})
}

// TestMessageBehaviours asks through a raw component, as the module under
// test will, and checks the replies byte for byte where it matters.
func TestMessageBehaviours(t *testing.T) {
	p := NewProsody(t, Config{})
	bob := p.NewUser(t, "bob", Approve, userOpts()...)
	comp := dialComponent(t, p, p.ComponentDomain, p.ComponentSecret)

	ask := func(t *testing.T, b Behaviour, id string) string {
		t.Helper()
		bob.SetBehaviour(b)
		ctx := testCtx(t, 5*time.Second)
		err := comp.Send("<message type='normal' to='bob@localhost' from='auth.localhost' id='m-" + id + "'>" +
			"<thread>th-" + id + "</thread><body>Code " + id + "</body>" +
			"<confirm xmlns='http://jabber.org/protocol/http-auth' id='" + id + "' method='GET' url='https://example.org/'/></message>")
		if err != nil {
			t.Fatal(err)
		}
		req, err := bob.NextRequest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := Request{Kind: "message", From: "auth.localhost", ID: id, Method: "GET", URL: "https://example.org/",
			Thread: "th-" + id, Body: "Code " + id, StanzaID: "m-" + id}
		if req != want {
			t.Errorf("request = %+v, want %+v", req, want)
		}
		if b == Silent {
			return ""
		}
		reply, err := comp.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s reply: %s", b, reply)
		return reply
	}
	mustContain := func(t *testing.T, s string, parts ...string) {
		t.Helper()
		for _, part := range parts {
			if !strings.Contains(s, part) {
				t.Errorf("reply lacks %q:\n%s", part, s)
			}
		}
	}

	t.Run("approve", func(t *testing.T) {
		r := ask(t, Approve, "A1")
		mustContain(t, r, "type='normal'", "from='"+bob.JID.String()+"'", "<thread>th-A1</thread>", "id='A1'", nsHTTPAuth)
	})
	t.Run("deny", func(t *testing.T) {
		r := ask(t, Deny, "D1")
		mustContain(t, r, "type='error'", "id='m-D1'", "<thread>th-D1</thread>", "id='D1'", "<not-authorized", "type='auth'")
	})
	t.Run("plaintext", func(t *testing.T) {
		r := ask(t, PlainText, "P1")
		mustContain(t, r, "type='chat'", "<body>P1</body>")
	})
	t.Run("plaintext-no", func(t *testing.T) {
		r := ask(t, PlainTextNo, "N1")
		mustContain(t, r, "type='chat'", "<body>no</body>")
	})
	t.Run("silent", func(t *testing.T) {
		ask(t, Silent, "S1")
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if r, err := comp.Next(ctx); err == nil {
			t.Errorf("silent user answered: %s", r)
		}
	})
	t.Run("forged by user", func(t *testing.T) {
		ctx := testCtx(t, 5*time.Second)
		if err := bob.SendRaw(ctx, "<message to='auth.localhost'><thread>forged</thread>"+
			"<confirm xmlns='http://jabber.org/protocol/http-auth' id='F1' method='GET' url='https://example.org/'/></message>"); err != nil {
			t.Fatal(err)
		}
		r, err := comp.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("forged: %s", r)
		mustContain(t, r, "from='"+bob.JID.String()+"'", "id='F1'")
	})
}

func TestBareJIDWithoutPresenceBounces(t *testing.T) {
	p := NewProsody(t, Config{})
	p.NewUser(t, "dave", Approve, append(userOpts(), WithoutPresence())...)
	comp := dialComponent(t, p, p.ComponentDomain, p.ComponentSecret)
	ctx := testCtx(t, 5*time.Second)
	if err := comp.Send("<message to='dave@localhost' from='auth.localhost' id='b1'><thread>t</thread>" +
		"<confirm xmlns='http://jabber.org/protocol/http-auth' id='X' method='GET' url='https://example.org/'/></message>"); err != nil {
		t.Fatal(err)
	}
	r, err := comp.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bounce: %s", r)
	if !strings.Contains(r, "type='error'") || !strings.Contains(r, "id='b1'") {
		t.Errorf("want an error bounce with id b1, got %s", r)
	}
}

func TestKillRestartKeepsAccounts(t *testing.T) {
	p := NewProsody(t, Config{})
	u := p.NewUser(t, "carol", Approve, userOpts()...)
	c2s := p.C2SAddr

	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-u.Done():
		t.Logf("session ended after kill: %v", u.Err())
	case <-time.After(5 * time.Second):
		t.Fatal("user session survived a killed server")
	}
	if p.Running() {
		t.Fatal("Running after Kill")
	}

	ctx := testCtx(t, 20*time.Second)
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if p.C2SAddr != c2s {
		t.Errorf("c2s address moved from %s to %s", c2s, p.C2SAddr)
	}
	u2, err := p.Connect(ctx, "carol", "carolpw", Approve, userOpts()...)
	if err != nil {
		t.Fatalf("account lost across restart: %v", err)
	}
	defer u2.Close()

	// A clean stop ends the stream cleanly.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-u2.Done():
		t.Logf("session ended after stop: %v", u2.Err())
	case <-time.After(5 * time.Second):
		t.Fatal("user session survived a stopped server")
	}
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Connect(ctx, "carol", "wrong", Approve); err == nil {
		t.Error("login with a wrong password succeeded")
	}
}

// TestRestartPortTaken checks that start-up notices a port prosody could not
// bind even though something else accepts connections on it.
func TestRestartPortTaken(t *testing.T) {
	p := NewProsody(t, Config{})
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", p.C2SAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = p.Restart(testCtx(t, 20*time.Second))
	if err == nil || !strings.Contains(err.Error(), "Failed to open server port") {
		t.Fatalf("Restart with the c2s port taken: %v", err)
	}
	if p.Running() {
		t.Error("prosody left running after a failed start")
	}
}

func TestPauseResume(t *testing.T) {
	p := NewProsody(t, Config{})
	u := p.NewUser(t, "erin", Approve, userOpts()...)
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := u.pingServer(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ping while paused: %v, want deadline exceeded", err)
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := u.pingServer(testCtx(t, 5*time.Second)); err != nil {
		t.Errorf("ping after resume: %v", err)
	}
}

func TestRawComponent(t *testing.T) {
	p := NewProsody(t, Config{ExtraComponents: map[string]string{"evil.localhost": "evilpw"}})

	t.Run("wrong secret", func(t *testing.T) {
		_, err := DialRawComponent(testCtx(t, 5*time.Second), p.ComponentAddr, p.ComponentDomain, "nope")
		var se *StreamError
		if !errors.As(err, &se) || se.Condition != "not-authorized" {
			t.Fatalf("err = %v, want stream error not-authorized", err)
		}
	})
	t.Run("unknown domain", func(t *testing.T) {
		_, err := DialRawComponent(testCtx(t, 5*time.Second), p.ComponentAddr, "nobody.localhost", "x")
		var se *StreamError
		if !errors.As(err, &se) {
			t.Fatalf("err = %v, want a stream error", err)
		}
		t.Logf("unknown domain: %v", err)
	})

	comp := dialComponent(t, p, p.ComponentDomain, p.ComponentSecret)
	evil := dialComponent(t, p, "evil.localhost", "evilpw")

	t.Run("second connection conflicts", func(t *testing.T) {
		_, err := DialRawComponent(testCtx(t, 5*time.Second), p.ComponentAddr, p.ComponentDomain, p.ComponentSecret)
		var se *StreamError
		if !errors.As(err, &se) || se.Condition != "conflict" {
			t.Fatalf("err = %v, want stream error conflict", err)
		}
	})

	t.Run("precis-invalid from is routed", func(t *testing.T) {
		ctx := testCtx(t, 5*time.Second)
		if err := evil.Send("<message from='☃@evil.localhost' to='auth.localhost' id='snow'><body>x</body></message>"); err != nil {
			t.Fatal(err)
		}
		r, err := comp.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("auth.localhost received: %s", r)
		if !strings.Contains(r, "☃@evil.localhost") {
			t.Errorf("want the snowman from, got %s", r)
		}
	})
}

func dialComponent(t *testing.T, p *Prosody, domain, secret string) *RawComponent {
	t.Helper()
	c, err := DialRawComponent(testCtx(t, 5*time.Second), p.ComponentAddr, domain, secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestUserSurvivesOddStanzas sends a user stanzas mellium cannot parse; the
// session must stay up.
func TestUserSurvivesOddStanzas(t *testing.T) {
	p := NewProsody(t, Config{ExtraComponents: map[string]string{"evil.localhost": "evilpw"}})
	u := p.NewUser(t, "frank", Approve, userOpts()...)
	evil := dialComponent(t, p, "evil.localhost", "evilpw")
	ctx := testCtx(t, 5*time.Second)

	for _, s := range []string{
		"<iq type='get' from='☃@evil.localhost' to='" + u.JID.String() + "' id='i1'><confirm xmlns='http://jabber.org/protocol/http-auth' id='Z' method='GET' url='u'/></iq>",
		"<iq type='get' from='☃@evil.localhost' to='" + u.JID.String() + "' id='i2'><query xmlns='jabber:iq:version'/></iq>",
		"<message from='☃@evil.localhost' to='frank@localhost' id='m1'><confirm xmlns='http://jabber.org/protocol/http-auth' id='Y' method='GET' url='u'/></message>",
	} {
		if err := evil.Send(s); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		r, err := evil.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("evil received: %s", r)
	}
	if err := u.pingServer(ctx); err != nil {
		t.Fatalf("session died: %v (serve: %v)", err, u.Err())
	}
}

func TestSendRawRejectsJunk(t *testing.T) {
	p := NewProsody(t, Config{})
	u := p.NewUser(t, "gina", Approve)
	ctx := testCtx(t, 5*time.Second)
	for _, s := range []string{"", "text", "<a>"} {
		if err := u.SendRaw(ctx, s); err == nil {
			t.Errorf("SendRaw(%q) succeeded", s)
		}
	}
}

func TestNoProsody(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := StartProsody(context.Background(), Config{})
	if !errors.Is(err, ErrNoProsody) || !strings.Contains(err.Error(), "apt-get install -y prosody") {
		t.Fatalf("err = %v, want ErrNoProsody with install hint", err)
	}
}

func TestLuaString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":       `"plain"`,
		`a"b\c`:       `"a\034b\092c"`,
		"x\ny":        `"x\010y"`,
		"☃.localhost": `"☃.localhost"`,
	} {
		if got := luaString(in); got != want {
			t.Errorf("luaString(%q) = %s, want %s", in, got, want)
		}
	}
}
