//go:build bench

package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
	"github.com/xepauth/caddy-xepauth/xepauth"
)

// TestConcurrentLogins is the concurrent-logins figure of go run
// ./internal/cmd/bench (docs/performance.md): n logins started at once through Caddy and a real Prosody, to scripted users who
// approve at once, against the raw iq round trip of a bare component
// (xepauth.Component.Ask to the same full JIDs, the same n at once) in the
// same run. A login is timed from posting the JID to holding the session
// cookie: the POST (answered with the waiting page) and its long poll,
// which sets the cookie.
//
// Run alone it makes 50 logins and wants at least 0.2 of raw; the bench
// command sets XEPAUTH_LOGINS=1000 and XEPAUTH_LOGINS_BAR=0, and shows
// the ratio as information.
func TestConcurrentLogins(t *testing.T) {
	n, bar := 50, 0.2
	if v, err := strconv.Atoi(os.Getenv("XEPAUTH_LOGINS")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.ParseFloat(os.Getenv("XEPAUTH_LOGINS_BAR"), 64); err == nil && v >= 0 {
		bar = v
	}
	if raceBuild() {
		bar /= 4 // the race detector slows the gate far more than Prosody
	}
	nUsers := min(10, n)

	s := newSite(t)
	users := make([]*xmpptest.User, nUsers)
	var wg sync.WaitGroup
	errs := make([]error, nUsers)
	for i := range users {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			local := "u" + strconv.Itoa(i)
			if err := s.p.Register(ctx, local, local+"pw"); err != nil {
				errs[i] = err
				return
			}
			u, err := s.p.Connect(ctx, local, local+"pw", xmpptest.Approve)
			users[i], errs[i] = u, err
		})
	}
	wg.Wait()
	for _, u := range users {
		if u != nil {
			t.Cleanup(func() { _ = u.Close() })
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// The users' request channels fill up and drop the oldest: nobody reads
	// them here, and recording never blocks the answers.

	raw1, ours1 := rawIQRate(t, s, users, n)

	var cfg map[string]any
	if err := jsonUnmarshal(s.config(options{LoginTimeout: "60s"}), &cfg); err != nil {
		t.Fatal(err)
	}
	// n logins from one address to nUsers JIDs: the limits, which are not
	// what is measured, would refuse most of them.
	cfg["apps"].(map[string]any)["xmpp_auth"].(map[string]any)["limits"] = map[string]any{
		"jid_open": n + 10, "jid_per_window": 2*n + 100, "jid_all_open": n + 10, "ip_open": n + 10, "ip_per_window": 2*n + 100, "max_pending": 2*n + 100}
	if err := caddyLoad(jsonMarshal(t, cfg)); err != nil {
		t.Fatal(err)
	}
	waitGateConnected(t, s, users[0])

	// Warm up: a few logins, not measured.
	if _, _, err := runLogins(s.addr, users, min(20, n)); err != nil {
		t.Fatalf("warm-up logins: %v", err)
	}
	took, wall, err := runLogins(s.addr, users, n)
	if err != nil {
		t.Fatalf("logins: %v", err)
	}

	// The raw rate once more, after the logins, with the gate's component
	// gone, so that both see the machine in the same state; the better of
	// the two runs is the baseline.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	raw2, ours2 := rawIQRate(t, s, users, n)
	raw := max(raw1, raw2)

	slices.Sort(took)
	p := func(q float64) time.Duration { return took[min(len(took)-1, int(q*float64(len(took))))] }
	rate := float64(n) / wall.Seconds()
	t.Logf("FIGURE3 logins=%d users=%d logins_per_s=%.0f p50_ms=%.1f p99_ms=%.1f max_ms=%.1f raw_per_s=%.0f raw_runs=%.0f,%.0f ours_per_s=%.0f ratio=%.3f",
		n, nUsers, rate, ms(p(0.5)), ms(p(0.99)), ms(took[len(took)-1]), raw, raw1, raw2, max(ours1, ours2), rate/raw)
	if rate < bar*raw {
		t.Errorf("%.0f logins/s, below %.2f of the raw %.0f iq/s", rate, bar, raw)
	}
}

// raceBuild tells whether the test binary was built with -race.
func raceBuild() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, st := range bi.Settings {
			if st.Key == "-race" {
				return st.Value == "true"
			}
		}
	}
	return false
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// rawIQRate is the baseline: a bare mellium component (component.NewSession
// and Session.SendIQ, nothing of ours) connected to s's Prosody, and the
// rate, in round trips per second, of n iqs carrying a <confirm/> started
// at once to the users' full JIDs, after a small warm-up. ours is the same
// through xepauth.Component.Ask, for the log: what our component costs
// over mellium's.
func rawIQRate(t *testing.T, s *site, users []*xmpptest.User, n int) (raw, ours float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	domain := jid.MustParse(s.p.ComponentDomain)
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", s.p.ComponentAddr)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := component.NewSession(ctx, domain, []byte(s.p.ComponentSecret), nc)
	if err != nil {
		t.Fatalf("bare mellium component: %v", err)
	}
	go func() {
		_ = sess.Serve(xmpp.HandlerFunc(func(xmlstream.TokenReadEncoder, *xml.StartElement) error { return nil }))
	}()
	confirm := func(i int) xml.TokenReader {
		return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: xepauth.NS, Local: "confirm"}, Attr: []xml.Attr{
			{Name: xml.Name{Local: "id"}, Value: xepauth.NewCode(6)}, {Name: xml.Name{Local: "method"}, Value: "GET"},
			{Name: xml.Name{Local: "url"}, Value: "http://127.0.0.1/"}}})
	}
	raw = iqBurstRate(t, n, func(ctx context.Context, i int) error {
		iq := stanza.IQ{Type: stanza.GetIQ, To: users[i%len(users)].JID, From: domain}
		resp, err := sess.SendIQ(ctx, iq.Wrap(confirm(i)))
		if err != nil {
			return err
		}
		defer resp.Close()
		tok, err := resp.Token()
		if err != nil {
			return err
		}
		if start, ok := tok.(xml.StartElement); !ok || attrOf(start, "type") != "result" {
			return fmt.Errorf("answer %v", tok)
		}
		return nil
	})
	sess.Close()
	nc.Close()

	comp, err := xepauth.New(xepauth.Config{Server: s.p.ComponentAddr, Domain: s.p.ComponentDomain, Secret: s.p.ComponentSecret}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	comp.Start()
	defer comp.Close()
	if err := comp.WaitConnected(ctx); err != nil {
		t.Fatalf("our component did not connect: %v", err)
	}
	ours = iqBurstRate(t, n, func(ctx context.Context, i int) error {
		o := comp.Ask(ctx, xepauth.Request{JID: users[i%len(users)].JID, Site: "127.0.0.1",
			URL: "http://127.0.0.1/", Method: "GET", Code: xepauth.NewCode(6)})
		if o.Result != xepauth.Approved {
			return fmt.Errorf("%v %s", o.Result, o.Detail)
		}
		return nil
	})
	return raw, ours
}

// iqBurstRate runs ask for 0..n-1 all at once, after a warm-up of 20,
// and returns the rate in asks per second.
func iqBurstRate(t *testing.T, n int, ask func(ctx context.Context, i int) error) float64 {
	t.Helper()
	burst := func(k int) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make([]error, k)
		start := time.Now()
		for i := range k {
			wg.Go(func() {
				if err := ask(ctx, i); err != nil {
					errs[i] = fmt.Errorf("ask %d: %w", i, err)
				}
			})
		}
		wg.Wait()
		return time.Since(start), errors.Join(errs...)
	}
	if _, err := burst(min(20, n)); err != nil {
		t.Fatalf("raw warm-up: %v", err)
	}
	wall, err := burst(n)
	if err != nil {
		t.Fatalf("raw iq round trips: %v", err)
	}
	return float64(n) / wall.Seconds()
}

func attrOf(start xml.StartElement, name string) string {
	for _, a := range start.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// waitGateConnected waits until a login through the freshly loaded gate
// reaches a user, i.e. until the gate's component is connected.
func waitGateConnected(t *testing.T, s *site, u *xmpptest.User) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		// The gate's component cannot be reached from here; one login
		// approved end to end tells that it is up.
		_, _, err := runLogins(s.addr, []*xmpptest.User{u}, 1)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gate did not log anyone in within 15s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runLogins runs n logins at once, each by its own browser (a
// loadBrowser: its own connection and cookies): every browser first
// fetches the login form and its token, then all post at the same moment.
// It returns each login's time from the post to holding the session
// cookie, and the wall time from the common start to the last cookie.
func runLogins(addr string, users []*xmpptest.User, n int) ([]time.Duration, time.Duration, error) {
	type flow struct {
		b     *loadBrowser
		token string
	}
	flows := make([]flow, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range flows {
		wg.Go(func() {
			b, err := dialLoadBrowser(addr)
			if err != nil {
				errs[i] = err
				return
			}
			flows[i].b = b
			_, body, err := b.do("GET", "/.xmpp-auth/login", "")
			if err != nil {
				errs[i] = err
				return
			}
			m := csrfField.FindSubmatch(body)
			if m == nil {
				errs[i] = fmt.Errorf("the login form has no token")
				return
			}
			flows[i].token = string(m[1])
		})
	}
	wg.Wait()
	defer func() {
		for _, f := range flows {
			if f.b != nil {
				f.b.close()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}

	took := make([]time.Duration, n)
	start := time.Now()
	for i := range flows {
		wg.Go(func() {
			t0 := time.Now()
			errs[i] = login(flows[i].b, users[i%len(users)].JID.String(), flows[i].token)
			took[i] = time.Since(t0)
		})
	}
	wg.Wait()
	wall := time.Since(start)
	return took, wall, errors.Join(errs...)
}

// login posts the form, which answers with the waiting page, and
// long-polls status as the page's script does until the session cookie is
// set.
func login(b *loadBrowser, jid, token string) error {
	form := url.Values{"jid": {jid}, "return": {"/"}, "csrf": {token}}
	resp, page, err := b.do("POST", "/.xmpp-auth/login", form.Encode())
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`name="k" value="([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		return fmt.Errorf("login form answered %d without a login secret", resp.StatusCode)
	}
	poll := url.Values{"k": {string(m[1])}}.Encode()
	for range 10 {
		resp, body, err := b.do("POST", "/.xmpp-auth/status", poll)
		if err != nil {
			return err
		}
		switch {
		case bytes.Contains(body, []byte(`"approved"`)):
			if b.cookies["xmpp_auth"] == "" {
				return fmt.Errorf("approved without a session cookie: %s", body)
			}
			return nil
		case !bytes.Contains(body, []byte(`"pending"`)):
			return fmt.Errorf("status answered %d: %.200s", resp.StatusCode, body)
		}
	}
	return errors.New("still pending after 10 polls")
}
