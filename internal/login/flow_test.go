package login

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/xepauth/caddy-xepauth/internal/session"
	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
	"github.com/xepauth/caddy-xepauth/xepauth"
)

// testSite is a gate in front of an upstream that greets the user, on a
// plain net/http server.
type testSite struct {
	t        *testing.T
	g        *Gate
	srv      *httptest.Server
	mu       sync.Mutex
	upstream []*http.Request
}

func newTestSite(t *testing.T, g *Gate) *testSite {
	s := &testSite{t: t, g: g}
	s.srv = httptest.NewServer(Serve(g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.upstream = append(s.upstream, r.Clone(context.Background()))
		s.mu.Unlock()
		_, _ = io.WriteString(w, "hello "+r.Header.Get("X-Forwarded-User"))
	})))
	t.Cleanup(s.srv.Close)
	return s
}

// testBrowser keeps cookies, follows no redirect, and keeps the login
// secret of the last waiting page, as the page's script does.
type testBrowser struct {
	t      *testing.T
	base   string
	c      *http.Client
	secret string
}

func (s *testSite) browser() *testBrowser {
	jar, _ := cookiejar.New(nil)
	return &testBrowser{t: s.t, base: s.srv.URL, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var (
	csrfRE   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	secretRE = regexp.MustCompile(`name="k" value="([^"]+)"`)
)

func (b *testBrowser) do(method, base, path string, form url.Values, hdr ...string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if m := secretRE.FindSubmatch(out); m != nil {
		b.secret = string(m[1])
	}
	return resp, string(out)
}

// cookie is "name=value" of the browser's cookie of that name for the
// gate's pages, as an attacker would copy it.
func (b *testBrowser) cookie(name string) string {
	b.t.Helper()
	u, _ := url.Parse(b.base + "/.xmpp-auth/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Name + "=" + c.Value
		}
	}
	b.t.Fatalf("no cookie %s among %v", name, b.c.Jar.Cookies(u))
	return ""
}

// startLogin fetches the form and posts it for jid.
func (b *testBrowser) startLogin(jid string) (*http.Response, string) {
	b.t.Helper()
	_, page := b.do("GET", b.base, "/.xmpp-auth/login", nil)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no form token:\n%s", page)
	}
	return b.do("POST", b.base, "/.xmpp-auth/login", url.Values{"jid": {jid}, "return": {"/"}, "csrf": {m[1]}})
}

// poll posts the login's secret to status, as the page's script does, and
// returns the state and whether a session cookie came with it.
func (b *testBrowser) poll() (string, bool) {
	b.t.Helper()
	resp, body := b.do("POST", b.base, "/.xmpp-auth/status", url.Values{"k": {b.secret}})
	var a struct{ State string }
	_ = json.Unmarshal([]byte(body), &a)
	for _, c := range resp.Cookies() {
		if c.Name == "xmpp_auth" && c.Value != "" {
			return a.State, true
		}
	}
	return a.State, false
}

func TestALoginIsCashedInOnceByThePageThatStartedIt(t *testing.T) {
	asker := &fakeAsker{answers: make(chan xepauth.Outcome, 1)}
	s := newTestSite(t, testGate(t, testService(t, asker, nil), Config{}, Env{}))
	b := s.browser()
	if resp, body := b.startLogin("alice@example.org"); resp.StatusCode != http.StatusOK || b.secret == "" {
		t.Fatalf("the waiting page: %d\n%s", resp.StatusCode, body)
	}
	asker.answers <- xepauth.Outcome{Result: xepauth.Approved}
	if state, cookie := b.poll(); state != "approved" || !cookie {
		t.Fatalf("after the approval: %s, cookie %v", state, cookie)
	}
	if state, cookie := b.poll(); state != "gone" || cookie {
		t.Errorf("cashed in twice: %s, cookie %v", state, cookie)
	}
	if resp, body := b.do("GET", b.base, "/page", nil); resp.StatusCode != http.StatusOK || body != "hello alice@example.org" {
		t.Errorf("with the session: %d %q", resp.StatusCode, body)
	}
}

func TestALoginStartedOnOneSiteIsNotCashedInOnAnother(t *testing.T) {
	asker := &fakeAsker{answers: make(chan xepauth.Outcome, 1)}
	s := newTestSite(t, testGate(t, testService(t, asker, nil), Config{}, Env{}))
	b := s.browser()
	b.startLogin("alice@example.org")
	asker.answers <- xepauth.Outcome{Result: xepauth.Approved}
	// The same server under another name (as a catch-all site answers
	// it), with every cookie and the secret of the login: the cookies are
	// the browser's for this host, so they go along by hand.
	other := strings.Replace(s.srv.URL, "127.0.0.1", "localhost", 1)
	u, _ := url.Parse(s.srv.URL + "/.xmpp-auth/")
	var cookies []string
	for _, c := range b.c.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	resp, body := b.do("POST", other, "/.xmpp-auth/status", url.Values{"k": {b.secret}}, "Cookie", strings.Join(cookies, "; "))
	if strings.Contains(body, "approved") || len(resp.Cookies()) != 0 {
		t.Fatalf("the login was cashed in on another site: %s %v", body, resp.Cookies())
	}
	if state, cookie := b.poll(); state != "approved" || !cookie {
		t.Errorf("on its own site: %s, cookie %v", state, cookie)
	}
}

func TestFinishedLoginsAreForgotten(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(2e9, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	svc := testService(t, &fakeAsker{outcome: xepauth.Outcome{Result: xepauth.Denied}}, clock)
	lim := DefaultLimits
	lim.PerJIDWindow, lim.PerIPWindow = 1000, 1000
	svc.Commit(lim, nil, 0)
	s := newTestSite(t, testGate(t, svc, Config{}, Env{}))
	for i := range 20 {
		if resp, _ := s.browser().startLogin("alice@example.org"); resp.StatusCode != http.StatusOK {
			t.Fatalf("login %d: %d", i, resp.StatusCode)
		}
	}
	// Every ask has ended (denied at once); they are kept for keepDone.
	deadline := time.Now().Add(5 * time.Second)
	for svc.Pending() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := svc.logins.len(); n != 20 {
		t.Fatalf("%d logins remembered right after they ended, want 20", n)
	}
	mu.Lock()
	now = now.Add(keepDone + time.Second)
	mu.Unlock()
	if n := svc.logins.len(); n != 0 {
		t.Errorf("%d finished logins still remembered %v after they ended", n, keepDone)
	}
}

func TestEndedLoginsGiveBackEveryLimit(t *testing.T) {
	svc := testService(t, &fakeAsker{outcome: xepauth.Outcome{Result: xepauth.Denied}}, nil)
	lim := DefaultLimits
	lim.MaxOpen, lim.PerJIDWindow, lim.PerIPWindow = 2, 1000, 1000
	svc.Commit(lim, nil, 0)
	s := newTestSite(t, testGate(t, svc, Config{}, Env{}))
	// Many more logins in the life of the process than max_pending: each
	// ends (denied) before the next starts.
	for i := range 10 {
		if resp, body := s.browser().startLogin("alice@example.org"); resp.StatusCode != http.StatusOK {
			t.Fatalf("login %d with max_pending 2: %d\n%.200s", i, resp.StatusCode, body)
		}
		deadline := time.Now().Add(5 * time.Second)
		for svc.Pending() != 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
}

func TestALoginIsApprovedInARealXMPPClient(t *testing.T) {
	p := xmpptest.NewServer(t, xmpptest.Config{})
	alice := p.NewUser(t, "alice", xmpptest.Approve)
	comp, err := xepauth.New(xepauth.Config{Server: p.ComponentAddr, Domain: p.ComponentDomain, Secret: p.ComponentSecret}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	comp.Start()
	t.Cleanup(func() { _ = comp.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := comp.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	s := newTestSite(t, testGate(t, testService(t, comp, nil), Config{}, Env{}))
	b := s.browser()
	if resp, body := b.startLogin(alice.JID.Bare().String()); resp.StatusCode != http.StatusOK {
		t.Fatalf("the waiting page: %d\n%s", resp.StatusCode, body)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		state, cookie := b.poll()
		if state == "approved" && cookie {
			break
		}
		if state != "pending" || time.Now().After(deadline) {
			t.Fatalf("the login ended %s", state)
		}
	}
	if resp, body := b.do("GET", b.base, "/page", nil); resp.StatusCode != http.StatusOK || body != "hello "+alice.JID.Bare().String() {
		t.Errorf("with the session: %d %q", resp.StatusCode, body)
	}
}

// onlyLogin is the one login svc knows.
func onlyLogin(t *testing.T, svc *Service) *login {
	t.Helper()
	svc.logins.mu.Lock()
	defer svc.logins.mu.Unlock()
	if len(svc.logins.m) != 1 {
		t.Fatalf("%d logins known, want 1", len(svc.logins.m))
	}
	for _, l := range svc.logins.m {
		return l
	}
	return nil
}

func TestAStatusPollPostedFromAnotherSiteLearnsNothing(t *testing.T) {
	asker := &fakeAsker{answers: make(chan xepauth.Outcome, 1)}
	s := newTestSite(t, testGate(t, testService(t, asker, nil), Config{}, Env{}))
	b := s.browser()
	b.startLogin("alice@example.org")
	asker.answers <- xepauth.Outcome{Result: xepauth.Approved}
	<-onlyLogin(t, s.g.svc).done
	resp, body := b.do("POST", b.base, "/.xmpp-auth/status", url.Values{"k": {b.secret}}, "Origin", "https://evil.example")
	if !strings.Contains(body, `"gone"`) || len(resp.Cookies()) != 0 {
		t.Fatalf("a poll from another site: %s %v", body, resp.Cookies())
	}
	if state, cookie := b.poll(); state != "approved" || !cookie {
		t.Errorf("the page's own poll afterwards: %s, cookie %v", state, cookie)
	}
}

func TestALoginFormWithoutOriginIsAcceptedUnlessTheBrowserSaysItIsCrossSite(t *testing.T) {
	s := newTestSite(t, testGate(t, testService(t, &fakeAsker{wait: true}, nil), Config{}, Env{}))
	b := s.browser()
	_, page := b.do("GET", b.base, "/.xmpp-auth/login", nil)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form token:\n%s", page)
	}
	form := url.Values{"jid": {"alice@example.org"}, "return": {"/"}, "csrf": {m[1]}}
	if resp, body := b.do("POST", b.base, "/.xmpp-auth/login", form, "Origin", "", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a form a browser says comes from another site: %d\n%.300s", resp.StatusCode, body)
	}
	if resp, body := b.do("POST", b.base, "/.xmpp-auth/login", form, "Origin", ""); resp.StatusCode != http.StatusOK || b.secret == "" {
		t.Errorf("a form posted without Origin: %d\n%.300s", resp.StatusCode, body)
	}
}

func TestTheStatusEndpointAnswersOnlyPOST(t *testing.T) {
	s := newTestSite(t, testGate(t, testService(t, nil, nil), Config{}, Env{}))
	resp, _ := s.browser().do("GET", s.srv.URL, "/.xmpp-auth/status", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET status: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestEveryEndedPollGivesBackItsPlace(t *testing.T) {
	s := newTestSite(t, testGate(t, testService(t, &fakeAsker{outcome: xepauth.Outcome{Result: xepauth.Denied}}, nil), Config{}, Env{}))
	b := s.browser()
	b.startLogin("alice@example.org")
	<-onlyLogin(t, s.g.svc).done
	for i := range 3 * maxPolls {
		if state, _ := b.poll(); state != "denied" {
			t.Fatalf("poll %d, one after another: %s", i, state)
		}
	}
}

func TestOfTwoPollsHeldAtTheApprovalExactlyOneGetsTheSession(t *testing.T) {
	asker := &fakeAsker{answers: make(chan xepauth.Outcome, 1)}
	s := newTestSite(t, testGate(t, testService(t, asker, nil), Config{}, Env{}))
	b := s.browser()
	b.startLogin("alice@example.org")
	l := onlyLogin(t, s.g.svc)
	type answer struct {
		state  string
		cookie bool
	}
	answers := make(chan answer, 2)
	for range 2 {
		go func() {
			state, cookie := b.poll()
			answers <- answer{state, cookie}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.polls.Load() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d polls held, want 2", l.polls.Load())
		}
		time.Sleep(time.Millisecond)
	}
	asker.answers <- xepauth.Outcome{Result: xepauth.Approved}
	var sessions, gone int
	for range 2 {
		a := <-answers
		switch {
		case a.state == "approved" && a.cookie:
			sessions++
		case a.state == "gone" && !a.cookie:
			gone++
		default:
			t.Errorf("a poll got %s, cookie %v", a.state, a.cookie)
		}
	}
	if sessions != 1 || gone != 1 {
		t.Errorf("%d polls got the session and %d were told it is gone, want 1 and 1", sessions, gone)
	}
}

func TestEveryAnswerOfTheGateForbidsContentSniffing(t *testing.T) {
	s := newTestSite(t, testGate(t, testService(t, nil, nil), Config{}, Env{}))
	b := s.browser()
	for _, tt := range []struct {
		name      string
		base, url string
		hdr       []string
	}{
		{"the login page", s.srv.URL, "/.xmpp-auth/login", nil},
		{"a page of the site without a session", s.srv.URL, "/private", nil},
		{"a script's request without a session", s.srv.URL, "/api", []string{"Sec-Fetch-Mode", "cors", "Accept", "application/json"}},
	} {
		resp, _ := b.do("GET", tt.base, tt.url, nil, tt.hdr...)
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s (%d): X-Content-Type-Options %q", tt.name, resp.StatusCode, got)
		}
	}
	api, err := NewAPI(s.g.svc, APIConfig{}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "http://127.0.0.1/auth?jid=not%20a%20jid", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	if err := api.ServeHTTP(rec, r); err != nil {
		t.Fatal(err)
	}
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("the /auth API's answer (%d): X-Content-Type-Options %q", rec.Code, got)
	}
}

func TestALoginFormNeverAsksAnAddressItRefuses(t *testing.T) {
	notNamed := Env{HostNamed: func(*http.Request) bool { return false }}
	for _, tt := range []struct {
		name   string
		jid    string
		cfg    Config
		env    Env
		down   bool
		status int
		says   string
	}{
		{"the gate's own address", "someone@auth.example.org", Config{}, Env{}, false, http.StatusBadRequest, ""},
		{"a server named by its IP address", "alice@192.0.2.1", Config{}, Env{}, false, http.StatusBadRequest, ""},
		{"a denied address", "mallory@example.org", Config{Deny: []string{"mallory@example.org"}}, Env{}, false, http.StatusForbidden, ""},
		{"an address outside the allow list", "mallory@example.net", Config{Allow: []string{"example.org"}}, Env{}, false, http.StatusForbidden, ""},
		{"a host no matcher names", "alice@example.org", Config{}, notNamed, false, http.StatusMisdirectedRequest, ""},
		{"while the XMPP server is down", "alice@example.org", Config{}, Env{}, true, http.StatusServiceUnavailable, ""},
		{"a spelling stringprep servers read as another account", "aliß@example.org", Config{}, Env{}, false, http.StatusBadRequest, ""},
		{"a domain that reads back as another", "alice@example.org..", Config{}, Env{}, false, http.StatusBadRequest, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			asker := &fakeAsker{down: tt.down, wait: true, asked: make(chan xepauth.Request, 1)}
			s := newTestSite(t, testGate(t, testService(t, asker, nil), tt.cfg, tt.env))
			b := s.browser()
			resp, body := b.startLogin(tt.jid)
			if resp.StatusCode != tt.status || b.secret != "" {
				t.Errorf("status %d, a login secret %v; want %d and none\n%.300s", resp.StatusCode, b.secret != "", tt.status, body)
			}
			select {
			case req := <-asker.asked:
				t.Errorf("%s was asked", req.JID)
			case <-time.After(20 * time.Millisecond):
			}
		})
	}
	// IP addresses are refused only where the allow list does not name
	// them: a private server may be known by its address.
	asker := &fakeAsker{wait: true, asked: make(chan xepauth.Request, 1)}
	s := newTestSite(t, testGate(t, testService(t, asker, nil), Config{Allow: []string{"192.0.2.1"}}, Env{}))
	if resp, body := s.browser().startLogin("alice@192.0.2.1"); resp.StatusCode != http.StatusOK {
		t.Errorf("an IP address the allow list names: %d\n%.300s", resp.StatusCode, body)
	}
}

func TestALoginOverALimitIsRefusedWithoutAnAsk(t *testing.T) {
	asker := &fakeAsker{wait: true, asked: make(chan xepauth.Request, 10)}
	svc := testService(t, asker, nil)
	lim := DefaultLimits
	lim.PerJIDOpen = 1
	svc.Commit(lim, nil, 0)
	s := newTestSite(t, testGate(t, svc, Config{}, Env{}))
	if resp, _ := s.browser().startLogin("alice@example.org"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the first login: %d", resp.StatusCode)
	}
	<-asker.asked
	resp, body := s.browser().startLogin("alice@example.org")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a second login while one is open, with a limit of one: %d\n%.300s", resp.StatusCode, body)
	}
	select {
	case <-asker.asked:
		t.Error("the login over the limit was asked")
	case <-time.After(20 * time.Millisecond):
	}
}

func TestAStatusPollWithoutTheLoginsSecretLearnsNothing(t *testing.T) {
	asker := &fakeAsker{answers: make(chan xepauth.Outcome, 1)}
	s := newTestSite(t, testGate(t, testService(t, asker, nil), Config{}, Env{}))
	b := s.browser()
	b.startLogin("alice@example.org")
	secret := b.secret
	asker.answers <- xepauth.Outcome{Result: xepauth.Approved}
	for _, k := range []url.Values{{}, {"k": {""}}, {"k": {"x" + secret[1:]}}, {"k": {secret[:len(secret)-1]}}} {
		resp, body := b.do("POST", b.base, "/.xmpp-auth/status", k)
		if strings.Contains(body, "approved") || strings.Contains(body, "pending") || len(resp.Cookies()) != 0 {
			t.Errorf("secret %q: %d %s %v", k.Get("k"), resp.StatusCode, body, resp.Cookies())
		}
	}
	b.secret = secret
	if state, cookie := b.poll(); state != "approved" || !cookie {
		t.Errorf("with the secret: %s, cookie %v", state, cookie)
	}
}

// A sibling site can plant a login cookie in the victim's browser on plain
// HTTP; without the pre-login cookie of the browser that started the
// login, it is nobody's login there.
func TestALoginCookieWithoutThePreLoginCookieOfItsBrowserIsNoLogin(t *testing.T) {
	asker := &fakeAsker{answers: make(chan xepauth.Outcome, 1)}
	s := newTestSite(t, testGate(t, testService(t, asker, nil), Config{}, Env{}))
	attacker := s.browser()
	attacker.startLogin("alice@example.org")
	asker.answers <- xepauth.Outcome{Result: xepauth.Approved}
	planted := attacker.cookie("xmpp_auth_login")
	victim := s.browser()
	victim.do("GET", victim.base, "/.xmpp-auth/login", nil) // the victim's own pre-login cookie
	for name, b := range map[string]*testBrowser{"a browser without a pre-login cookie": s.browser(), "a browser with its own": victim} {
		resp, body := b.do("POST", b.base, "/.xmpp-auth/status", url.Values{"k": {attacker.secret}}, "Cookie", planted)
		if strings.Contains(body, "approved") || len(resp.Cookies()) != 0 {
			t.Errorf("%s: the planted login was cashed in: %s %v", name, body, resp.Cookies())
		}
		if resp, _ := b.do("GET", b.base, "/.xmpp-auth/wait", nil, "Cookie", planted); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: the waiting page of the planted login: %d, want 404", name, resp.StatusCode)
		}
	}
	if state, cookie := attacker.poll(); state != "approved" || !cookie {
		t.Errorf("in the browser that started it: %s, cookie %v", state, cookie)
	}
}

// The answers that carry a login's state or set a cookie are the
// visitor's alone: a shared cache must never keep one for the next
// visitor.
func TestNoAnswerThatCarriesAVisitorsLoginIsCached(t *testing.T) {
	asker := &fakeAsker{answers: make(chan xepauth.Outcome, 1)}
	s := newTestSite(t, testGate(t, testService(t, asker, nil), Config{}, Env{}))
	b := s.browser()
	check := func(what string, resp *http.Response) {
		t.Helper()
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s (%d): Cache-Control %q, want no-store", what, resp.StatusCode, got)
		}
	}
	resp, _ := b.do("GET", b.base, "/private", nil)
	check("the login page", resp)
	resp, _ = b.startLogin("alice@example.org")
	check("the waiting page", resp)
	resp, _ = b.do("POST", b.base, "/.xmpp-auth/status", url.Values{"k": {"not-the-secret"}})
	check("a status poll that finds no login", resp)
	asker.answers <- xepauth.Outcome{Result: xepauth.Approved}
	// The continue button of the waiting page, as a browser without
	// JavaScript posts it: the session cookie comes with a redirect.
	resp, _ = b.do("POST", b.base, "/.xmpp-auth/wait", url.Values{"k": {b.secret}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the continue button after the approval: %d", resp.StatusCode)
	}
	check("the redirect that sets the session cookie", resp)
	setCookies := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		setCookies[c.Name] = c
	}
	if c := setCookies["xmpp_auth"]; c == nil || c.Value == "" || !c.HttpOnly {
		t.Errorf("the session cookie: %v", c)
	}
	if c := setCookies["xmpp_auth_login"]; c == nil || c.MaxAge >= 0 {
		t.Errorf("the login cookie is not deleted once the login is cashed in: %v", c)
	}
	resp, _ = b.do("GET", b.base, "/.xmpp-auth/logout", nil, "Accept", "application/json")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("an API client's logout: %d", resp.StatusCode)
	}
	check("an API client's logout", resp)
}

func TestTheLoginCookiesAreHiddenFromScripts(t *testing.T) {
	s := newTestSite(t, testGate(t, testService(t, &fakeAsker{wait: true}, nil), Config{}, Env{}))
	b := s.browser()
	_, page := b.do("GET", b.base, "/.xmpp-auth/login", nil)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form token:\n%s", page)
	}
	resp, _ := b.do("POST", b.base, "/.xmpp-auth/login", url.Values{"jid": {"alice@example.org"}, "return": {"/"}, "csrf": {m[1]}})
	seen := 0
	for _, c := range resp.Cookies() {
		seen++
		if !c.HttpOnly {
			t.Errorf("%s is readable by scripts", c.Name)
		}
	}
	if seen == 0 {
		t.Fatal("the login form's answer set no cookie")
	}
}

func TestTheLanguageOfAPageIsPartOfItsCacheKey(t *testing.T) {
	s := newTestSite(t, testGate(t, testService(t, nil, nil), Config{}, Env{}))
	resp, _ := s.browser().do("GET", s.srv.URL, "/.xmpp-auth/login", nil, "Accept-Language", "fr")
	if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Language") {
		t.Errorf("Vary %q", resp.Header.Values("Vary"))
	}
}

func TestALogoutLinkOnAnotherSiteEndsNoSession(t *testing.T) {
	s := newTestSite(t, testGate(t, testService(t, nil, nil), Config{}, Env{}))
	b := s.browser()
	newSession := func() string {
		now := time.Now()
		v, err := s.g.ring.Seal(session.Session{JID: "alice@example.org", Authenticated: now, Issued: now, Expires: now.Add(time.Hour)}, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		return "xmpp_auth=" + v
	}
	loggedIn := func(cookie string) bool {
		resp, _ := b.do("GET", b.base, "/page", nil, "Cookie", cookie)
		return resp.StatusCode == http.StatusOK
	}
	foreign := []struct {
		name   string
		method string
		hdr    []string
	}{
		{"a link on another site", "GET", []string{"Sec-Fetch-Site", "cross-site"}},
		{"a link on a sibling site", "GET", []string{"Sec-Fetch-Site", "same-site"}},
		{"a link on another site, by its Referer", "GET", []string{"Referer", "http://evil.example/page"}},
		{"a browser's GET that says nothing of where it comes from", "GET", nil},
		{"a form on another site", "POST", []string{"Origin", "http://evil.example"}},
	}
	for _, tt := range foreign {
		cookie := newSession()
		var form url.Values
		if tt.method == "POST" {
			form = url.Values{}
		}
		resp, body := b.do(tt.method, b.base, "/.xmpp-auth/logout", form, append([]string{"Cookie", cookie}, tt.hdr...)...)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "<form") {
			t.Errorf("%s: %d, want the page with a button\n%.300s", tt.name, resp.StatusCode, body)
		}
		if !loggedIn(cookie) {
			t.Errorf("%s logged the visitor out", tt.name)
		}
	}
	own := []struct {
		name   string
		method string
		hdr    []string
	}{
		{"a link on the site", "GET", []string{"Sec-Fetch-Site", "same-origin"}},
		{"the address typed in the address bar", "GET", []string{"Sec-Fetch-Site", "none"}},
		{"a link on the site, by its Referer", "GET", []string{"Referer", b.base + "/page"}},
		{"an API client", "GET", []string{"Accept", "application/json"}},
		{"the page's own button", "POST", nil},
	}
	for _, tt := range own {
		cookie := newSession()
		var form url.Values
		if tt.method == "POST" {
			form = url.Values{}
		}
		b.do(tt.method, b.base, "/.xmpp-auth/logout", form, append([]string{"Cookie", cookie}, tt.hdr...)...)
		if loggedIn(cookie) {
			t.Errorf("%s did not log the visitor out", tt.name)
		}
	}
}
