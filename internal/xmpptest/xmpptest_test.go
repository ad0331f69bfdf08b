package xmpptest

import (
	"context"
	"encoding/xml"
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
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
	p := NewServer(t, Config{})
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
	p := NewServer(t, Config{})
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
		mustContain(t, r, "from='"+bob.JID.String()+"'", "<thread>th-A1</thread>", "id='A1'", nsHTTPAuth)
		// ejabberd strips type='normal' (see TestEjabberdQuirks).
		if p.Kind == KindProsody {
			mustContain(t, r, "type='normal'")
		}
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
	p := NewServer(t, Config{})
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
	p := NewServer(t, Config{})
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
	if p.Kind == KindEjabberd {
		if err := p.Register(ctx, "carol", "x"); !errors.Is(err, errNotRunning) {
			t.Errorf("Register on a stopped ejabberd: %v, want %v", err, errNotRunning)
		}
	}
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

// TestRegisterOverwrites checks that Register on an existing account sets
// its password, as prosodyctl register does.
func TestRegisterOverwrites(t *testing.T) {
	p := NewServer(t, Config{})
	p.NewUser(t, "ivan", Approve)
	ctx := testCtx(t, 10*time.Second)
	if err := p.Register(ctx, "ivan", "second"); err != nil {
		t.Fatal(err)
	}
	u, err := p.Connect(ctx, "ivan", "second", Approve)
	if err != nil {
		t.Fatalf("new password: %v", err)
	}
	u.Close()
	if u, err := p.Connect(ctx, "ivan", "ivanpw", Approve); err == nil {
		u.Close()
		t.Error("the old password still works")
	}
}

// TestRestartPortTaken checks that start-up notices a port the server could
// not bind even though something else accepts connections on it (prosody
// keeps running without the port; ejabberd gives up).
func TestRestartPortTaken(t *testing.T) {
	p := NewServer(t, Config{})
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", p.C2SAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = p.Restart(testCtx(t, 20*time.Second))
	if !errors.Is(err, errPortTaken) || !strings.Contains(err.Error(), strconv.Itoa(portOf(p.C2SAddr))) {
		t.Fatalf("Restart with the c2s port taken: %v", err)
	}
	t.Logf("port taken: %.300s", err)
	if p.Running() {
		t.Errorf("%s left running after a failed start", p.Kind)
	}
}

// TestNothingOutlives checks that Kill and Stop leave no process of the
// server behind, helpers included (ejabberd's VM starts some in sessions of
// their own). Only Linux can list them.
func TestNothingOutlives(t *testing.T) {
	p := NewServer(t, Config{})
	ctx := testCtx(t, 40*time.Second)
	for _, step := range []struct {
		name string
		stop func() error
	}{{"Kill", p.Kill}, {"Stop", p.Stop}} {
		p.mu.Lock()
		tree := treeOf(p.cmd.Process.Pid)
		p.mu.Unlock()
		t.Logf("%s: %d processes before %s", p.Kind, len(tree), step.name)
		if len(tree) == 0 && runtime.GOOS == "linux" {
			t.Fatal("found no server process")
		}
		if err := step.stop(); err != nil {
			t.Fatal(err)
		}
		for _, pr := range tree {
			if pr.alive() {
				t.Errorf("process %+v outlived %s", pr, step.name)
			}
		}
		if err := p.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPauseResume(t *testing.T) {
	p := NewServer(t, Config{})
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
	p := NewServer(t, Config{ExtraComponents: map[string]string{"evil.localhost": "evilpw"}})

	t.Run("wrong secret", func(t *testing.T) {
		_, err := DialRawComponent(testCtx(t, 5*time.Second), p.ComponentAddr, p.ComponentDomain, "nope")
		var se *StreamError
		if !errors.As(err, &se) || se.Condition != "not-authorized" {
			t.Fatalf("err = %v, want stream error not-authorized", err)
		}
	})
	t.Run("unknown domain", func(t *testing.T) {
		_, err := DialRawComponent(testCtx(t, 5*time.Second), p.ComponentAddr, "nobody.localhost", "x")
		want := map[Kind]string{KindProsody: "host-unknown", KindEjabberd: "not-authorized"}[p.Kind]
		var se *StreamError
		if !errors.As(err, &se) || se.Condition != want {
			t.Fatalf("err = %v, want stream error %s", err, want)
		}
	})

	comp := dialComponent(t, p, p.ComponentDomain, p.ComponentSecret)
	evil := dialComponent(t, p, "evil.localhost", "evilpw")

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

	t.Run("second connection", func(t *testing.T) {
		second, err := DialRawComponent(testCtx(t, 5*time.Second), p.ComponentAddr, p.ComponentDomain, p.ComponentSecret)
		if p.Kind == KindEjabberd {
			// Accepted, and sharing the traffic (TestServerDifferences),
			// which is why this runs last: until ejabberd has processed
			// the close, stanzas for the domain may still go to it.
			if err != nil {
				t.Fatalf("ejabberd refused a second connection: %v", err)
			}
			if err := second.Close(); err != nil {
				t.Fatal(err)
			}
			return
		}
		var se *StreamError
		if !errors.As(err, &se) || se.Condition != "conflict" {
			t.Fatalf("err = %v, want stream error conflict", err)
		}
	})
}

func dialComponent(t *testing.T, p *Server, domain, secret string) *RawComponent {
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
	p := NewServer(t, Config{ExtraComponents: map[string]string{"evil.localhost": "evilpw"}})
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
	p := NewServer(t, Config{})
	u := p.NewUser(t, "gina", Approve)
	ctx := testCtx(t, 5*time.Second)
	for _, s := range []string{"", "text", "<a>"} {
		if err := u.SendRaw(ctx, s); err == nil {
			t.Errorf("SendRaw(%q) succeeded", s)
		}
	}
}

func TestNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	saved := ejabberdctlPaths
	ejabberdctlPaths = nil
	t.Cleanup(func() { ejabberdctlPaths = saved })

	for kind, want := range map[Kind]error{KindProsody: ErrNoProsody, KindEjabberd: ErrNoEjabberd} {
		_, err := StartServer(context.Background(), kind, Config{})
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "apt-get install -y "+string(kind)) {
			t.Errorf("%s: err = %v, want %v with install hint", kind, err, want)
		}
	}
	if _, err := StartServer(context.Background(), "openfire", Config{}); err == nil || !strings.Contains(err.Error(), "openfire") {
		t.Errorf("unknown kind: err = %v", err)
	}
}

func TestKindFromEnv(t *testing.T) {
	for env, want := range map[string]Kind{"": KindProsody, "prosody": KindProsody, "ejabberd": KindEjabberd} {
		t.Setenv(EnvServer, env)
		if got, err := KindFromEnv(); got != want || err != nil {
			t.Errorf("%s=%q: %q, %v; want %q", EnvServer, env, got, err, want)
		}
	}
	t.Setenv(EnvServer, "Ejabberd ")
	if _, err := KindFromEnv(); err == nil || !strings.Contains(err.Error(), EnvServer) {
		t.Errorf("bad value: err = %v, want one naming %s", err, EnvServer)
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

func TestYAMLString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":       `"plain"`,
		`a"b\c`:       `"a\"b\\c"`,
		"x\ny\x7f":    `"x\x0ay\x7f"`,
		"☃.localhost": `"☃.localhost"`,
	} {
		if got := yamlString(in); got != want {
			t.Errorf("yamlString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestErlString(t *testing.T) {
	for in, want := range map[string]string{
		"localhost":   `"localhost"`,
		`a"b\c`:       `"a\"b\\c"`,
		"x\ny":        `"x\x{a}y"`,
		"☃.localhost": `"\x{2603}.localhost"`,
	} {
		if got := erlString(in); got != want {
			t.Errorf("erlString(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestServerDifferences pins down, on each server, the behaviours in which
// Prosody 0.12 and ejabberd 23.01 differ, so that
// code tested against one server does not rely on what the other does not
// do. Each case checks both columns.
func TestServerDifferences(t *testing.T) {
	for _, kind := range []Kind{KindProsody, KindEjabberd} {
		t.Run(string(kind), func(t *testing.T) { testServerDifferences(t, kind) })
	}
}

func testServerDifferences(t *testing.T, kind Kind) {
	ejabberd := kind == KindEjabberd
	// The secrets carry characters that need quoting in Lua and YAML.
	p := NewServerOf(t, kind, Config{ExtraComponents: map[string]string{
		"lb.localhost":     `lb"pw\#: {x}`,
		"nofrom.localhost": "nofrom'pw\t@",
		// One domain per case: a domain's previous connection may not be
		// gone yet when the next case dials (Prosody would say conflict).
		"spoof1.localhost": "s1",
		"spoof2.localhost": "s2",
		"idle.localhost":   "never connected",
	}})
	bob := p.NewUser(t, "bob", Approve, userOpts()...)
	p.NewUser(t, "dave", Approve, append(userOpts(), WithoutPresence())...)
	comp := dialComponent(t, p, p.ComponentDomain, p.ComponentSecret)
	const confirmXML = "<confirm xmlns='http://jabber.org/protocol/http-auth' id='C1' method='GET' url='https://example.org/'/>"

	// Prosody refuses a second connection for a component domain; ejabberd
	// accepts it and spreads the stanzas for the domain over both.
	t.Run("second component connection", func(t *testing.T) {
		first := dialComponent(t, p, "lb.localhost", `lb"pw\#: {x}`)
		second, err := DialRawComponent(testCtx(t, 5*time.Second), p.ComponentAddr, "lb.localhost", `lb"pw\#: {x}`)
		if !ejabberd {
			var se *StreamError
			if !errors.As(err, &se) || se.Condition != "conflict" {
				t.Fatalf("err = %v, want stream error conflict", err)
			}
		} else if err != nil {
			t.Fatalf("ejabberd refused a second connection: %v", err)
		} else {
			t.Cleanup(func() { _ = second.Close() })
		}

		const n = 20
		ctx := testCtx(t, 5*time.Second)
		for i := range n {
			if err := bob.SendRaw(ctx, "<message to='lb.localhost' id='lb-"+strconv.Itoa(i)+"'><body>x</body></message>"); err != nil {
				t.Fatal(err)
			}
		}
		conns := []*RawComponent{first}
		if ejabberd {
			conns = append(conns, second)
		}
		counts := make([]int, len(conns))
		got := make(chan int, n)
		for i, c := range conns {
			go func() {
				for {
					if _, err := c.Next(ctx); err != nil {
						return
					}
					got <- i
				}
			}()
		}
		for range n {
			select {
			case i := <-got:
				counts[i]++
			case <-ctx.Done():
				t.Fatalf("received %v of %d messages", counts, n)
			}
		}
		t.Logf("messages per connection: %v", counts)
		for i, c := range counts {
			// With an even spread, all 20 on one side has odds of 2^-19.
			if c == 0 {
				t.Errorf("connection %d got none of %d messages: %v", i, n, counts)
			}
		}
	})

	// A component stanza without from: Prosody fills in the component's
	// domain; ejabberd ends the component's stream.
	t.Run("stanza without from", func(t *testing.T) {
		bob.SetBehaviour(Silent)
		defer bob.SetBehaviour(Approve)
		nofrom := dialComponent(t, p, "nofrom.localhost", "nofrom'pw\t@")
		ctx := testCtx(t, 5*time.Second)
		if err := nofrom.Send("<message to='bob@localhost' id='nf1'>" + confirmXML + "</message>"); err != nil {
			t.Fatal(err)
		}
		if !ejabberd {
			req, err := bob.NextRequest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if req.From != "nofrom.localhost" {
				t.Errorf("from = %q, want nofrom.localhost", req.From)
			}
			return
		}
		r, err := nofrom.Next(ctx)
		if err != nil || !strings.Contains(r, "<improper-addressing") {
			t.Fatalf("got %q, %v; want stream error improper-addressing", r, err)
		}
		if r, err := nofrom.Next(ctx); err == nil {
			t.Errorf("stream goes on after the error: %s", r)
		}
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if req, err := bob.NextRequest(short); err == nil {
			t.Errorf("bob got the stanza anyway: %+v", req)
		}
	})

	// A component sending as another component of the same server:
	// Prosody ends its stream; ejabberd delivers the stanza, because it
	// lets a component use any domain configured on its listener. Neither
	// lets a component send as a user.
	t.Run("from another component", func(t *testing.T) {
		bob.SetBehaviour(Silent)
		defer bob.SetBehaviour(Approve)
		spoofer := dialComponent(t, p, "spoof1.localhost", "s1")
		ctx := testCtx(t, 5*time.Second)
		if err := spoofer.Send("<message from='auth.localhost' to='bob@localhost' id='sp1'>" + confirmXML + "</message>"); err != nil {
			t.Fatal(err)
		}
		if ejabberd {
			req, err := bob.NextRequest(ctx)
			if err != nil || req.From != "auth.localhost" {
				t.Fatalf("bob got %+v, %v; want the spoofed message", req, err)
			}
		} else {
			r, err := spoofer.Next(ctx)
			if err != nil || !strings.Contains(r, "<invalid-from") {
				t.Fatalf("got %q, %v; want stream error invalid-from", r, err)
			}
		}
	})
	t.Run("from a user", func(t *testing.T) {
		spoofer := dialComponent(t, p, "spoof2.localhost", "s2")
		ctx := testCtx(t, 5*time.Second)
		if err := spoofer.Send("<message from='dave@localhost' to='bob@localhost' id='sp2'>" + confirmXML + "</message>"); err != nil {
			t.Fatal(err)
		}
		r, err := spoofer.Next(ctx)
		if err != nil || !strings.Contains(r, "<invalid-from") {
			t.Fatalf("got %q, %v; want stream error invalid-from", r, err)
		}
	})

	// The server's own error replies: Prosody sends back none of the
	// payload, ejabberd echoes it, so a <confirm/> in an error does not
	// prove that the user answered.
	t.Run("iq to offline resource", func(t *testing.T) {
		ctx := testCtx(t, 5*time.Second)
		if err := comp.Send("<iq type='get' to='bob@localhost/gone' from='auth.localhost' id='off1'>" + confirmXML + "</iq>"); err != nil {
			t.Fatal(err)
		}
		r, err := comp.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("reply: %s", r)
		mustHave(t, r, true, "type='error'", "id='off1'", "<service-unavailable")
		mustHave(t, r, ejabberd, "<confirm")
	})
	t.Run("message to bare JID without resource", func(t *testing.T) {
		ctx := testCtx(t, 5*time.Second)
		if err := comp.Send("<message type='normal' to='dave@localhost' from='auth.localhost' id='b1'><thread>th-b1</thread>" + confirmXML + "</message>"); err != nil {
			t.Fatal(err)
		}
		r, err := comp.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bounce: %s", r)
		mustHave(t, r, true, "type='error'", "id='b1'")
		mustHave(t, r, ejabberd, "<thread>th-b1</thread>", "<confirm")
	})

	// Where stanzas to a domain without a connection end: a configured
	// component that is not connected, and a remote domain (s2s is off on
	// both). Prosody answers remote-server-timeout and not-allowed; ejabberd
	// treats both as remote and answers forbidden (its s2s_access: none).
	t.Run("no route", func(t *testing.T) {
		ctx := testCtx(t, 5*time.Second)
		for to, want := range map[string][2]string{
			"idle.localhost":  {"<remote-server-timeout", "<forbidden"},
			"nowhere.example": {"<not-allowed", "<forbidden"},
		} {
			if err := comp.Send("<message from='auth.localhost' to='x@" + to + "' id='nr1'><body>x</body></message>"); err != nil {
				t.Fatal(err)
			}
			r, err := comp.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("to %s: %s", to, r)
			if ejabberd {
				mustHave(t, r, true, "type='error'", want[1])
			} else {
				mustHave(t, r, true, "type='error'", want[0])
			}
		}
	})

	// type='normal' on a user's message: Prosody passes it on, ejabberd
	// drops the attribute (normal is the default).
	t.Run("type normal", func(t *testing.T) {
		ctx := testCtx(t, 5*time.Second)
		if err := comp.Send("<message type='normal' to='bob@localhost' from='auth.localhost' id='n1'><thread>th-n1</thread>" + confirmXML + "</message>"); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.NextRequest(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := comp.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("approval: %s", r)
		start := r[:strings.IndexByte(r, '>')+1]
		mustHave(t, start, true, "from='"+bob.JID.String()+"'")
		mustHave(t, start, !ejabberd, "type='normal'")
		mustHave(t, start, !ejabberd, "type=")
	})
}

// mustHave checks that s contains each of parts if want, and none of them
// otherwise.
func mustHave(t *testing.T, s string, want bool, parts ...string) {
	t.Helper()
	for _, part := range parts {
		if strings.Contains(s, part) != want {
			if want {
				t.Errorf("lacks %q:\n%s", part, s)
			} else {
				t.Errorf("has %q:\n%s", part, s)
			}
		}
	}
}

// The set-up guide tells ejabberd users to configure the listener the
// tests use.
func TestTheSetUpGuideShowsTheEjabberdListenerTheTestsUse(t *testing.T) {
	readme, err := os.ReadFile("../../docs/xmpp-server.md")
	if err != nil {
		t.Fatal(err)
	}
	want := EjabberdService(5347, "auth.example.org", "the same secret as XMPP_COMPONENT_SECRET")
	if !strings.Contains(string(readme), "listen:\n"+want+"```") {
		t.Errorf("docs/xmpp-server.md's ejabberd section does not show this listener:\nlisten:\n%s", want)
	}
}
