package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"
)

const (
	// userHeader is where the gate puts the visitor's JID (the handler's
	// default user_header).
	userHeader = "X-Forwarded-User"
	// upstreamShutdown bounds how long close waits for requests in flight.
	upstreamShutdown = 2 * time.Second
)

// gateCookies are the gate's own cookies (the handler's default
// cookie_name and its login cookie); the upstream must never see them.
var gateCookies = []string{"xmpp_auth", "xmpp_auth_login"}

// upstream is the application behind the gate: one page that greets the
// visitor by the JID the gate vouches for and shows what arrived, so the
// visitor can see the header is there and the gate's cookies are not.
type upstream struct {
	addr string
	srv  *http.Server
	done chan struct{} // closed when Serve has returned

	mu   sync.Mutex
	seen []seenRequest
}

// seenRequest is what the upstream noted about one request, for the test.
type seenRequest struct {
	user    string
	cookies []string
}

// startUpstream serves the demo application on a free loopback port.
func startUpstream() (*upstream, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the demo application: %w", err)
	}
	u := &upstream{addr: l.Addr().String(), done: make(chan struct{})}
	u.srv = &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(u.done)
		// ErrServerClosed is the normal end, after close.
		_ = u.srv.Serve(l)
	}()
	return u, nil
}

// url is the application's own address, bypassing the gate.
func (u *upstream) url() string { return "http://" + u.addr + "/" }

// close stops serving; requests in flight get a moment to finish.
func (u *upstream) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), upstreamShutdown)
	defer cancel()
	err := u.srv.Shutdown(ctx)
	<-u.done
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// requests returns what the upstream has seen so far.
func (u *upstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.seen)
}

// pageData fills upstreamPage.
type pageData struct {
	User        string
	Headers     []header
	Cookies     []string
	GateCookies []string // which of gateCookies arrived: should be none
}

// header is one request header line, for the page's table.
type header struct{ Name, Value string }

// ServeHTTP renders the page.
func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data := pageData{User: r.Header.Get(userHeader)}
	for _, c := range r.Cookies() {
		data.Cookies = append(data.Cookies, c.Name)
		if slices.Contains(gateCookies, c.Name) {
			data.GateCookies = append(data.GateCookies, c.Name)
		}
	}
	for name, values := range r.Header {
		if name == "Cookie" {
			// Names only: the values are listed above, and an
			// application's own cookies may be secrets.
			continue
		}
		for _, v := range values {
			data.Headers = append(data.Headers, header{name, v})
		}
	}
	sort.Slice(data.Headers, func(i, j int) bool { return data.Headers[i].Name < data.Headers[j].Name })

	u.mu.Lock()
	u.seen = append(u.seen, seenRequest{user: data.User, cookies: data.Cookies})
	u.mu.Unlock()

	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := upstreamPage.Execute(w, data); err != nil {
		// The header is sent by now; all that is left is to say why the
		// page ends early.
		fmt.Fprintf(w, "\n<!-- render: %s -->", template.HTMLEscapeString(err.Error()))
	}
}

// upstreamPage greets the visitor; html/template escapes what the request
// carried.
var upstreamPage = template.Must(template.New("upstream").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>xepauth demo application</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
code, td { font-family: ui-monospace, monospace; font-size: .9rem; }
td { padding: .1rem .6rem .1rem 0; vertical-align: top; word-break: break-all; }
.ok { color: #1b6e20; } .bad { color: #b3261e; font-weight: 600; }
</style></head>
<body>
<h1>Hello, {{if .User}}{{.User}}{{else}}stranger (no X-Forwarded-User header){{end}}</h1>
<p>This page is the application behind the gate. It has no login of its own: it trusts the
<code>X-Forwarded-User</code> header, which the gate sets to the JID that approved the login.</p>
<h2>Cookies received</h2>
{{if .Cookies}}<ul>{{range .Cookies}}<li><code>{{.}}</code></li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
{{if .GateCookies}}<p class="bad">The gate's cookies reached the application: {{range .GateCookies}}<code>{{.}}</code> {{end}}</p>
{{else}}<p class="ok">The gate's own cookies (<code>xmpp_auth</code>, <code>xmpp_auth_login</code>) were not passed on: they stay between the browser and the gate.</p>{{end}}
<h2>Request headers received</h2>
<table>{{range .Headers}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>{{end}}</table>
</body>
</html>
`))
