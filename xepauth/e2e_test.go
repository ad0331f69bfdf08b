package xepauth_test

import (
	"context"
	"encoding/xml"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
	"github.com/xepauth/caddy-xepauth/xepauth"
)

// rig is a real Prosody with a connected component, and the component's
// logs for assertions.
type rig struct {
	p    *xmpptest.Server
	comp *xepauth.Component
	logs *observer.ObservedLogs
}

// rigServerConfig is the XMPP server of a rig: it has a second component,
// evil.localhost, for the attacks.
var rigServerConfig = xmpptest.Config{ExtraComponents: map[string]string{"evil.localhost": "evilsecret"}}

// xmppServer is the XMPP server that the rigs of this package's tests take
// turns on (no test here runs in parallel).
var xmppServer = xmpptest.Shared{Config: rigServerConfig}

func TestMain(m *testing.M) {
	code := m.Run()
	xmppServer.Close()
	os.Exit(code)
}

// newRig is a component with cfg on the XMPP server the tests share.
func newRig(t *testing.T, cfg xepauth.Config) *rig {
	t.Helper()
	return startComponent(t, xmppServer.Server(t), cfg)
}

// newRigWithOwnServer is newRig on an XMPP server of its own, for a test
// that pauses it or may crash it.
func newRigWithOwnServer(t *testing.T, cfg xepauth.Config) *rig {
	t.Helper()
	return startComponent(t, xmpptest.NewServer(t, rigServerConfig), cfg)
}

func startComponent(t *testing.T, p *xmpptest.Server, cfg xepauth.Config) *rig {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	cfg.Server, cfg.Domain, cfg.Secret = p.ComponentAddr, p.ComponentDomain, p.ComponentSecret
	comp, err := xepauth.New(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	comp.Start()
	t.Cleanup(func() { comp.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := comp.WaitConnected(ctx); err != nil {
		t.Fatalf("component did not connect: %v\nprosody log:\n%s", err, p.LogTail(30))
	}
	return &rig{p: p, comp: comp, logs: logs}
}

// evil connects the rig's second component, evil.localhost, whose
// stanzas reach the gate's domain as any other server's would, and closes
// it when the test ends.
func (r *rig) evil(t *testing.T) *xmpptest.RawComponent {
	t.Helper()
	evil, err := xmpptest.DialRawComponent(context.Background(), r.p.ComponentAddr, "evil.localhost", "evilsecret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { evil.Close() })
	return evil
}

// ask asks j with a fresh code and a deadline.
func (r *rig) ask(j jid.JID, timeout time.Duration) (xepauth.Outcome, string) {
	code := xepauth.NewCode(6)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return r.comp.Ask(ctx, xepauth.Request{JID: j, Site: "wiki.example.org", URL: "https://wiki.example.org/", Method: "GET", Code: code}), code
}

func wantResult(t *testing.T, o xepauth.Outcome, want xepauth.Result, via string) {
	t.Helper()
	if o.Result != want || (via != "" && o.Via != via) {
		t.Fatalf("outcome %+v, want %v via %q", o, want, via)
	}
}

func TestAskFullJIDByIQ(t *testing.T) {
	r := newRig(t, xepauth.Config{})
	alice := r.p.NewUser(t, "alice", xmpptest.Approve)

	o, code := r.ask(alice.JID, 5*time.Second)
	wantResult(t, o, xepauth.Approved, "iq")
	if !o.By.Equal(alice.JID) {
		t.Errorf("approved by %v, want %v", o.By, alice.JID)
	}
	req := <-alice.Requests()
	if req.Kind != "iq" || req.ID != code || req.Method != "GET" || req.URL != "https://wiki.example.org/" || req.From != "auth.localhost" {
		t.Errorf("alice received %+v", req)
	}

	alice.SetBehaviour(xmpptest.Deny)
	o, _ = r.ask(alice.JID, 5*time.Second)
	wantResult(t, o, xepauth.Denied, "iq")
}

func TestAskBareJIDByMessage(t *testing.T) {
	r := newRig(t, xepauth.Config{})
	alice := r.p.NewUser(t, "alice", xmpptest.Approve)

	o, code := r.ask(alice.JID.Bare(), 5*time.Second)
	wantResult(t, o, xepauth.Approved, "message")
	req := <-alice.Requests()
	if req.Kind != "message" || req.ID != code || req.Thread == "" || !strings.Contains(req.Body, code) ||
		!strings.Contains(req.Body, "wiki.example.org") || !strings.Contains(req.Body, "GET") {
		t.Errorf("alice received %+v", req)
	}

	alice.SetBehaviour(xmpptest.Deny)
	o, _ = r.ask(alice.JID.Bare(), 5*time.Second)
	wantResult(t, o, xepauth.Denied, "message")
}

func TestClientWithoutXEP0070GetsAMessageAndAnswersInPlainText(t *testing.T) {
	r := newRig(t, xepauth.Config{})
	dino := r.p.NewUser(t, "dino", xmpptest.PlainText)

	// The iq is refused with service-unavailable, so the ask falls back to a
	// message, which the user answers by typing the code.
	o, _ := r.ask(dino.JID, 5*time.Second)
	wantResult(t, o, xepauth.Approved, "plaintext")
	if first, second := <-dino.Requests(), <-dino.Requests(); first.Kind != "iq" || second.Kind != "message" {
		t.Errorf("requests: %v then %v, want iq then message", first.Kind, second.Kind)
	}

	dino.SetBehaviour(xmpptest.PlainTextNo)
	o, _ = r.ask(dino.JID.Bare(), 5*time.Second)
	wantResult(t, o, xepauth.Denied, "plaintext")
}

func TestSilentUserTimesOut(t *testing.T) {
	r := newRig(t, xepauth.Config{})
	alice := r.p.NewUser(t, "alice", xmpptest.Silent)
	start := time.Now()
	o, _ := r.ask(alice.JID.Bare(), 300*time.Millisecond)
	wantResult(t, o, xepauth.Timeout, "")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
	if n := r.comp.Pending(); n != 0 {
		t.Errorf("%d asks still pending after the timeout", n)
	}
}

func TestOfflineOrUnknownAccountIsUnreachable(t *testing.T) {
	r := newRig(t, xepauth.Config{})
	ctx := context.Background()
	if err := r.p.Register(ctx, "offline", "pw"); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"offline@localhost", "nobody@localhost", "offline@localhost/gone"} {
		o, _ := r.ask(jid.MustParse(to), 5*time.Second)
		wantResult(t, o, xepauth.Unreachable, "")
	}
}

// The reference component approves any confirm that carries a pending
// transaction id, whoever sends it; the code is on the login page, so
// anyone could log in as anyone. Here only the asked account can answer.
func TestAnswersFromAnotherAccountAreRejected(t *testing.T) {
	r := newRig(t, xepauth.Config{})
	alice := r.p.NewUser(t, "alice", xmpptest.Silent)
	mallory := r.p.NewUser(t, "mallory", xmpptest.Silent)

	done := make(chan xepauth.Outcome, 1)
	code := xepauth.NewCode(6)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		done <- r.comp.Ask(ctx, xepauth.Request{JID: alice.JID.Bare(), Site: "s", URL: "https://s/", Method: "GET", Code: code})
	}()
	req, err := alice.NextRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Mallory knows the code (it was on her screen) and even the thread.
	forgeries := []string{
		`<message to='auth.localhost'><confirm xmlns='http://jabber.org/protocol/http-auth' id='` + code + `' method='GET' url='https://s/'/></message>`,
		`<message to='auth.localhost' type='normal'><thread>` + req.Thread + `</thread><confirm xmlns='http://jabber.org/protocol/http-auth' id='` + code + `' method='GET' url='https://s/'/></message>`,
		`<message to='auth.localhost' type='chat'><body>` + code + `</body></message>`,
		`<message to='auth.localhost' id='` + req.StanzaID + `'><confirm xmlns='http://jabber.org/protocol/http-auth' id='` + code + `' method='GET' url='https://s/'/></message>`,
	}
	for _, f := range forgeries {
		if err := mallory.SendRaw(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	o := <-done
	wantResult(t, o, xepauth.Timeout, "")
	if n := r.logs.FilterLevelExact(zap.WarnLevel).FilterMessageSnippet("not asked").Len(); n < len(forgeries) {
		t.Errorf("%d forgeries logged at WARN, want %d:\n%v", n, len(forgeries), r.logs.All())
	}
}

func TestHostileStanzasDoNotEndTheSession(t *testing.T) {
	r := newRig(t, xepauth.Config{})
	alice := r.p.NewUser(t, "alice", xmpptest.Approve)
	evil := r.evil(t)
	hostile := []string{
		// An address Prosody accepts and mellium's JID parser refuses.
		`<message from='☃@evil.localhost' to='auth.localhost'><body>x</body></message>`,
		`<iq type='get' id='i1' from='☃@evil.localhost' to='auth.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq type='result' id='i2' from='☃@evil.localhost' to='auth.localhost'/>`,
		// A malformed confirm, an unknown payload, an unknown iq.
		`<message from='x@evil.localhost' to='auth.localhost'><confirm xmlns='http://jabber.org/protocol/http-auth'/></message>`,
		`<message from='x@evil.localhost' to='auth.localhost'><unknown xmlns='urn:example:what'><deeper/></unknown></message>`,
		`<iq type='set' id='i3' from='x@evil.localhost' to='auth.localhost'><unknown xmlns='urn:example:what'/></iq>`,
		`<presence from='x@evil.localhost' to='auth.localhost' type='subscribe'/>`,
		// Deeply nested XML, and a 1 MB body (a server may end the sender's
		// stream for it; ours must stay up either way).
		`<message from='x@evil.localhost' to='auth.localhost'>` + strings.Repeat("<x>", 2000) + strings.Repeat("</x>", 2000) + `</message>`,
		`<message from='x@evil.localhost' to='auth.localhost' type='chat'><body>` + strings.Repeat("A", 1<<20) + `</body></message>`,
	}
	for _, h := range hostile {
		if err := evil.Send(h); err != nil {
			t.Fatal(err)
		}
	}
	o, _ := r.ask(alice.JID, 5*time.Second)
	wantResult(t, o, xepauth.Approved, "iq")
	if n := r.logs.FilterMessageSnippet("lost the XMPP server").Len(); n != 0 {
		t.Fatalf("the session dropped %d times:\n%v", n, r.logs.All())
	}
	if n := r.logs.FilterMessageSnippet("address that does not parse").Len(); n < 3 {
		t.Errorf("%d unparseable addresses logged, want 3", n)
	}
}

// Deeper still, the servers part ways: Prosody hands the stanza over and
// the gate drops it; ejabberd 23.01 dies on it (its whole process exits;
// seen from 5 000 levels, 2 000 pass), also when a user's client sends it
// to the gate's address. The gate cannot prevent that;
// it must come back once the server does, and the next login must work.
func TestAfterAStanzaNested5000DeepTheNextLoginWorks(t *testing.T) {
	r := newRigWithOwnServer(t, xepauth.Config{})
	alice := r.p.NewUser(t, "alice", xmpptest.Approve)
	evil := r.evil(t)
	if err := evil.Send(`<message from='x@evil.localhost' to='auth.localhost'>` + strings.Repeat("<x>", 5000) + strings.Repeat("</x>", 5000) + `</message>`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the server has handled it, one way or the other
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	died := !r.p.Running()
	t.Logf("%s: the server died: %v", r.p.Kind, died)
	if died {
		if r.p.Kind == xmpptest.KindProsody {
			t.Fatalf("Prosody died:\n%s", r.p.LogTail(20))
		}
		if err := r.p.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		alice = r.p.NewUser(t, "alice", xmpptest.Approve)
	}
	if err := r.comp.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	o, _ := r.ask(alice.JID, 5*time.Second)
	wantResult(t, o, xepauth.Approved, "iq")
	drops := r.logs.FilterMessageSnippet("lost the XMPP server").Len()
	t.Logf("%s: the gate's connection dropped %d times", r.p.Kind, drops)
	if want := map[bool]int{false: 0, true: 1}[died]; drops != want {
		t.Errorf("the session dropped %d times, want %d (the server died: %v):\n%v", drops, want, died, r.logs.All())
	}
}

func TestServerDownAtStartThenUp(t *testing.T) {
	p := xmpptest.NewServer(t, xmpptest.Config{})
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	comp, err := xepauth.New(xepauth.Config{Server: p.ComponentAddr, Domain: p.ComponentDomain, Secret: p.ComponentSecret,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	comp.Start()
	defer comp.Close()

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	o := comp.Ask(ctx, xepauth.Request{JID: jid.MustParse("alice@localhost"), URL: "https://s/", Method: "GET", Code: "ABC234"})
	cancel()
	wantResult(t, o, xepauth.Unreachable, "")
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("an ask with no connection took %v; it must fail at once", d)
	}
	time.Sleep(300 * time.Millisecond)
	if n := logs.FilterLevelExact(zap.ErrorLevel).Len(); n != 1 {
		t.Errorf("%d ERROR lines for one outage, want exactly 1:\n%v", n, logs.All())
	}

	if err := p.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := comp.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	alice := p.NewUser(t, "alice", xmpptest.Approve)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o = comp.Ask(ctx, xepauth.Request{JID: alice.JID, URL: "https://s/", Method: "GET", Code: "ABC234"})
	wantResult(t, o, xepauth.Approved, "iq")
}

func TestServerKilledDuringAsksEndsThemAndReconnects(t *testing.T) {
	p := xmpptest.NewServer(t, xmpptest.Config{})
	r := startComponent(t, p, xepauth.Config{MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	alice := p.NewUser(t, "alice", xmpptest.Silent)

	const n = 20
	type result struct {
		o     xepauth.Outcome
		ended time.Time
	}
	results := make(chan result, n)
	for range n {
		go func() {
			o, _ := r.ask(alice.JID.Bare(), 30*time.Second)
			results <- result{o, time.Now()}
		}()
	}
	for range n {
		if _, err := alice.NextRequest(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	killed := time.Now()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	for range n {
		select {
		case res := <-results:
			if d := res.ended.Sub(killed); res.o.Result != xepauth.Unreachable || d > 2*time.Second {
				t.Errorf("ask ended %v after %v, want unreachable within 2s", res.o.Result, d)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("an ask still hangs 3s after the server was killed")
		}
	}

	if err := p.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.comp.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	bob := p.NewUser(t, "bob", xmpptest.Approve)
	o, _ := r.ask(bob.JID, 5*time.Second)
	wantResult(t, o, xepauth.Approved, "iq")
}

func TestKeepAlivePingsTravelThroughTheServer(t *testing.T) {
	r := newRig(t, xepauth.Config{KeepAlive: 50 * time.Millisecond})
	time.Sleep(600 * time.Millisecond)
	if !r.comp.Connected() || r.logs.FilterMessageSnippet("did not answer a ping").Len() > 0 {
		t.Fatalf("keepalive failed on a healthy server:\n%v", r.logs.All())
	}
}

func TestKeepAliveNoticesAPausedServer(t *testing.T) {
	r := newRigWithOwnServer(t, xepauth.Config{KeepAlive: 100 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err := r.p.Pause(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for r.comp.Connected() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := r.p.Resume(); err != nil {
		t.Fatal(err)
	}
	if r.logs.FilterMessageSnippet("did not answer a ping").Len() == 0 {
		t.Fatal("a paused server went unnoticed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.comp.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoAdvertisesHTTPAuth(t *testing.T) {
	r := newRig(t, xepauth.Config{})
	alice := r.p.NewUser(t, "alice", xmpptest.Silent)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iq := stanza.IQ{To: jid.MustParse("auth.localhost"), Type: stanza.GetIQ}
	resp, err := alice.Session().SendIQ(ctx, iq.Wrap(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "http://jabber.org/protocol/disco#info", Local: "query"}})))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	var got struct {
		Type     string `xml:"type,attr"`
		Features []struct {
			Var string `xml:"var,attr"`
		} `xml:"query>feature"`
		Identity struct {
			Category string `xml:"category,attr"`
		} `xml:"query>identity"`
	}
	if err := xml.NewTokenDecoder(resp).Decode(&got); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range got.Features {
		found = found || f.Var == xepauth.NS
	}
	if got.Type != "result" || !found || got.Identity.Category != "component" {
		t.Errorf("disco#info answer: %+v", got)
	}
}
