package caddymodule_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// These tests drive a real headless Chromium through the gate: the pages,
// their script and their look (a screenshot of each, at phone width).

// phone is the viewport of the screenshots; narrowest is the width no page
// may overflow.
const (
	phoneWidth, phoneHeight = 400, 800
	narrowest               = 320
)

// chromiumPath finds the browser, or ends the test: skipped under -short,
// failed otherwise, since scripts/test.sh installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("headless Chromium not found; skipped under -short")
	}
	t.Fatal("headless Chromium not found on PATH: install the Debian package chromium " +
		"(sudo apt-get install chromium, or bash scripts/install-packages.sh chromium), or run bash scripts/test.sh, which does")
	return ""
}

// profileDir is a fresh user-data-dir, removed after the test. Chromium's
// helpers may still be writing in it for a moment after it exits, so the
// removal is retried rather than failing the test.
func profileDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "xepauth-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 20 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove Chromium's profile %s", dir)
	})
	return dir
}

// chrome is one headless browser with one tab.
type chrome struct {
	t     *testing.T
	ctx   context.Context
	shots string // where screenshots go
}

type chromeOptions struct {
	noJavaScript   bool
	acceptLanguage string // default en-US,en;q=0.9
}

func newChrome(t *testing.T, o chromeOptions) *chrome {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profileDir(t)),
		chromedp.WindowSize(phoneWidth, phoneHeight),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // closes the browser and waits for it
		cancel()
		cancelAlloc()
	})
	if o.acceptLanguage == "" {
		o.acceptLanguage = "en-US,en;q=0.9"
	}
	setup := chromedp.Tasks{
		chromedp.EmulateViewport(phoneWidth, phoneHeight),
		network.Enable(),
		network.SetExtraHTTPHeaders(network.Headers{"Accept-Language": o.acceptLanguage}),
	}
	if o.noJavaScript {
		setup = append(setup, emulation.SetScriptExecutionDisabled(true))
	}
	// The first Run starts the browser, which lives as long as the context
	// given to it: ctx itself, not one with a deadline.
	if err := chromedp.Run(ctx, setup); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &chrome{t: t, ctx: ctx}
}

// run runs actions with a deadline, failing the test with what was being
// done.
func (c *chrome) run(what string, actions ...chromedp.Action) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

// screenshot saves the viewport as a PNG in XEPAUTH_SCREENSHOTS, or in a
// temporary folder when that is unset.
func (c *chrome) screenshot(name string) {
	c.t.Helper()
	var png []byte
	c.run("screenshot "+name, chromedp.CaptureScreenshot(&png))
	if c.shots == "" {
		c.shots = os.Getenv("XEPAUTH_SCREENSHOTS")
		if c.shots == "" {
			c.shots = c.t.TempDir()
		} else if err := os.MkdirAll(c.shots, 0o755); err != nil {
			c.t.Fatal(err)
		}
	}
	path := filepath.Join(c.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// fitsNarrowest checks that the page needs no sideways scrolling on the
// narrowest phone, and goes back to the phone viewport.
func (c *chrome) fitsNarrowest(what string) {
	c.t.Helper()
	var width int
	c.run(what+" at 320px",
		chromedp.EmulateViewport(narrowest, 640),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &width),
		chromedp.EmulateViewport(phoneWidth, phoneHeight),
	)
	if width > narrowest {
		c.t.Errorf("%s is %dpx wide at a %dpx viewport: it breaks the layout on small phones", what, width, narrowest)
	}
}

// html is the document's markup.
func (c *chrome) html() string {
	c.t.Helper()
	var s string
	c.run("read the page", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		s, err = outerHTML(ctx)
		return err
	}))
	return s
}

// outerHTML reads the document's markup. (DOM.getDocument would do without
// a script, but it resets the node ids chromedp's queries rely on.)
func outerHTML(ctx context.Context) (string, error) {
	var s string
	err := chromedp.OuterHTML("html", &s, chromedp.ByQuery).Do(ctx)
	return s, err
}

// currentURL is the tab's URL, from the navigation history (no script in
// the page is needed).
func currentURL(ctx context.Context) (string, error) {
	cur, entries, err := page.GetNavigationHistory().Do(ctx)
	if err != nil {
		return "", err
	}
	if cur < 0 || int(cur) >= len(entries) {
		return "", errors.New("empty navigation history")
	}
	return entries[cur].URL, nil
}

// waitFor polls until the tab is at want and its markup contains text.
func (c *chrome) waitFor(what, want, text string, timeout time.Duration) {
	c.t.Helper()
	var url, html string
	var err error
	deadline := time.Now().Add(timeout)
	for {
		// While the page changes, the tab may briefly have no document:
		// such errors are retried.
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		err = chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			if url, err = currentURL(ctx); err != nil {
				return err
			}
			html, err = outerHTML(ctx)
			return err
		}))
		cancel()
		if err == nil && (url == want || want == "") && strings.Contains(html, text) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: after %v the browser is at %s (last error: %v), want %s with %q:\n%s", what, timeout, url, err, want, text, html)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// approveByHand answers a message request as an XEP-0070 client does (the
// logic of e2e_test.go's approve).
func approveByHand(t *testing.T, u *xmpptest.User, req xmpptest.Request) {
	t.Helper()
	answer := fmt.Sprintf(`<message to='%s' type='normal'><thread>%s</thread><confirm xmlns='http://jabber.org/protocol/http-auth' id='%s' method='GET' url='%s'/></message>`,
		req.From, req.Thread, req.ID, xmlEscape(req.URL))
	if err := u.SendRaw(context.Background(), answer); err != nil {
		t.Fatal(err)
	}
}

func awaitRequest(t *testing.T, u *xmpptest.User) xmpptest.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := u.NextRequest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// logIn fills in the login form and waits for the waiting page (the
// form's answer, whose script moves the address bar to the waiting page's
// own address); it returns the code the page shows.
func (c *chrome) logIn(jid string) string {
	c.t.Helper()
	c.run("type the address", chromedp.SendKeys("#jid", jid, chromedp.ByID))
	c.run("press the button", chromedp.Click(`button[type=submit]`, chromedp.ByQuery))
	c.waitFor("the waiting page", "", `class="code"`, 10*time.Second)
	m := codeOnPage.FindStringSubmatch(c.html())
	if m == nil {
		c.t.Fatalf("the waiting page shows no code:\n%s", c.html())
	}
	return m[1]
}

func TestBrowserLogsInWaitsReturnsAndLogsOut(t *testing.T) {
	s := newSite(t)
	s.load(options{LoginTimeout: "2m"}) // the default, for the screenshot
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	c := newChrome(t, chromeOptions{})
	base := "http://" + s.addr
	target := base + "/some/page?x=1"

	// The login page, in English, with the field focused and labelled.
	var focused, lang, label string
	c.run("open the site",
		chromedp.Navigate(target),
		chromedp.WaitVisible("#jid", chromedp.ByID),
		chromedp.Evaluate(`document.activeElement.id`, &focused),
		chromedp.Evaluate(`document.documentElement.lang`, &lang),
		chromedp.Evaluate(`document.querySelector("label[for=jid]").textContent`, &label),
	)
	if html := c.html(); !strings.Contains(html, `value="/some/page?x=1"`) || !strings.Contains(html, "<h1>Log in</h1>") {
		t.Fatalf("not the login page:\n%s", html)
	}
	if focused != "jid" || lang != "en" || label != "Your XMPP address" {
		t.Errorf("login page: focus on %q, lang %q, label %q", focused, lang, label)
	}
	c.screenshot("login")
	c.fitsNarrowest("the login page")

	// The waiting page shows the code alice's client shows.
	code := c.logIn("alice@localhost")
	req := awaitRequest(t, alice)
	if req.ID != code {
		t.Fatalf("the page shows %s, alice was asked to confirm %s", code, req.ID)
	}
	if !strings.Contains(req.Body, "asks you to confirm") {
		t.Errorf("an English visitor's message is not in English:\n%s", req.Body)
	}
	var status string
	c.run("read the status", chromedp.AttributeValue("#status", "role", &status, nil, chromedp.ByID))
	if status != "status" {
		t.Errorf("the waiting status has role %q", status)
	}
	c.screenshot("wait")
	c.fitsNarrowest("the waiting page")
	// A reload does not post the form again, and the tab that started the
	// login sees its code again.
	c.waitFor("the waiting page's own address", base+"/.xmpp-auth/wait", `class="code"`, 5*time.Second)
	c.run("reload", chromedp.Reload())
	c.waitFor("the waiting page after a reload", base+"/.xmpp-auth/wait", `<p class="code">`+code+`</p>`, 10*time.Second)
	if req, ok := nextRequestWithin(alice, 300*time.Millisecond); ok {
		t.Fatalf("the reload asked alice again (%s)", req.ID)
	}

	// Approved in the XMPP client: the page's script takes the browser back
	// to where it was going, by itself.
	approveByHand(t, alice, req)
	c.waitFor("back on the page after approval", target, "hello alice@localhost", 15*time.Second)

	// Logged out: the page says so, and the site asks for a login again.
	c.run("log out", chromedp.Navigate(base+"/.xmpp-auth/logout"), chromedp.WaitReady("main", chromedp.ByQuery))
	if html := c.html(); !strings.Contains(html, "You are logged out.") || !strings.Contains(html, `role="status"`) {
		t.Fatalf("logout page:\n%s", html)
	}
	c.screenshot("loggedout")
	c.fitsNarrowest("the logged-out page")
	c.run("open the site again", chromedp.Navigate(target), chromedp.WaitVisible("#jid", chromedp.ByID))
	if html := c.html(); strings.Contains(html, "hello alice") || !strings.Contains(html, "<h1>Log in</h1>") {
		t.Fatalf("after logging out the site is not closed:\n%s", html)
	}
}

func TestBrowserPagesFollowAcceptLanguage(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	c := newChrome(t, chromeOptions{acceptLanguage: "fr-FR,fr;q=0.9,en;q=0.5"})
	var lang, label, title string
	c.run("open the site in French",
		chromedp.Navigate("http://"+s.addr+"/some/page?x=1"),
		chromedp.WaitVisible("#jid", chromedp.ByID),
		chromedp.Evaluate(`document.documentElement.lang`, &lang),
		chromedp.Evaluate(`document.querySelector("label[for=jid]").textContent`, &label),
		chromedp.Title(&title),
	)
	if lang != "fr" || label != "Votre adresse XMPP" || !strings.HasPrefix(title, "Connexion · ") {
		t.Errorf("French login page: lang %q, label %q, title %q", lang, label, title)
	}
	c.screenshot("login-fr")
	c.fitsNarrowest("the French login page")

	// The French visitor's XMPP message is in French too.
	code := c.logIn("alice@localhost")
	req := awaitRequest(t, alice)
	if req.ID != code || !strings.Contains(req.Body, "vous demande de confirmer") {
		t.Errorf("code %s, message %s:\n%s", code, req.ID, req.Body)
	}
	if html := c.html(); !strings.Contains(html, "Une demande de confirmation a été envoyée à alice@localhost.") {
		t.Errorf("French waiting page:\n%s", html)
	}
}

func TestBrowserWaitingPageWorksWithoutJavaScript(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	c := newChrome(t, chromeOptions{noJavaScript: true})
	target := "http://" + s.addr + "/some/page?x=1"

	c.run("open the site", chromedp.Navigate(target), chromedp.WaitReady("#jid", chromedp.ByID))
	code := c.logIn("alice@localhost")
	// Without scripting the address bar stays on the form's answer.
	var at string
	c.run("read the address", chromedp.Location(&at))
	if at != "http://"+s.addr+"/.xmpp-auth/login" {
		t.Fatalf("scripting is not off: the waiting page moved to %s", at)
	}
	req := awaitRequest(t, alice)
	if req.ID != code {
		t.Fatalf("the page shows %s, alice was asked to confirm %s", code, req.ID)
	}
	approveByHand(t, alice, req)
	// A press before the approval has arrived shows the waiting page
	// again, as a person would see it; they press once more.
	for range 20 {
		var at string
		c.run("read the address", chromedp.Location(&at))
		if at == target {
			break
		}
		c.run("press continue", chromedp.Click(`#continue button`, chromedp.ByQuery))
		time.Sleep(500 * time.Millisecond)
	}
	c.waitFor("back on the page after approval, by the continue button", target, "hello alice@localhost", 5*time.Second)
}

// nextRequestWithin returns the next confirmation request u receives
// within d, if one comes.
func nextRequestWithin(u *xmpptest.User, d time.Duration) (xmpptest.Request, bool) {
	select {
	case r := <-u.Requests():
		return r, true
	case <-time.After(d):
		return xmpptest.Request{}, false
	}
}
