package login

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"go.uber.org/zap"
)

// Env is what the server around a gate provides. In production that is
// Caddy (package caddymodule); tests give only what they need, and every
// field has a default that suits a plain net/http server.
type Env struct {
	// ClientIP is the client's address, honouring the server's trusted
	// proxies. Default: the host of RemoteAddr.
	ClientIP func(*http.Request) string
	// ClientIPHeaders are the headers the server reads client addresses
	// from behind a proxy; the /auth API requires every address in them to
	// be allowed, with X-Forwarded-For's and X-Real-Ip's. Default: none.
	ClientIPHeaders func(*http.Request) []string
	// OriginalURL is the URL as the client asked for it, before any
	// rewrite. Default: r.URL.
	OriginalURL func(*http.Request) *url.URL
	// ScrubCopies makes what the server keeps of the request beside the
	// request itself forget its query and body: in Caddy, the original
	// request that {http.request.orig_uri} and the FastCGI transport's
	// REQUEST_URI read, and the placeholders, which read the request Caddy
	// made, not a copy that a handler before the gate (tracing, timeouts)
	// hands on. A passed preflight goes on without its query and body.
	// Default: nothing.
	ScrubCopies func(*http.Request)
	// SetUser tells the rest of the server who the request is from once
	// the gate has let it through ({http.auth.user.id} in Caddy). Default:
	// nothing.
	SetUser func(r *http.Request, jid string)
	// HostNamed reports whether a host matcher of the server names the
	// request's host: without site_name, only such a host may name the
	// site in an XMPP message. Default: every host is named.
	HostNamed func(*http.Request) bool
	// Metrics counts what users feel. Default: nothing is counted.
	Metrics Metrics
	// Logger is where the gate logs. Default: nowhere.
	Logger *zap.Logger
}

// Metrics counts the events a dashboard shows; Caddy's registry keeps
// them (caddymodule/metrics.go). Its methods must be safe for concurrent
// use.
type Metrics interface {
	// Asked counts an ask that has ended, by its result: approved,
	// denied, timeout or unreachable.
	Asked(result string)
	// SessionChecked counts a request's session check: valid or not.
	SessionChecked(valid bool)
}

type noMetrics struct{}

func (noMetrics) Asked(string)        {}
func (noMetrics) SessionChecked(bool) {}

// withDefaults fills in what e leaves out.
func (e Env) withDefaults() Env {
	if e.ClientIP == nil {
		e.ClientIP = remoteHost
	}
	if e.ClientIPHeaders == nil {
		e.ClientIPHeaders = func(*http.Request) []string { return nil }
	}
	if e.OriginalURL == nil {
		e.OriginalURL = func(r *http.Request) *url.URL { return r.URL }
	}
	if e.ScrubCopies == nil {
		e.ScrubCopies = func(*http.Request) {}
	}
	if e.SetUser == nil {
		e.SetUser = func(*http.Request, string) {}
	}
	if e.HostNamed == nil {
		e.HostNamed = func(*http.Request) bool { return true }
	}
	if e.Metrics == nil {
		e.Metrics = noMetrics{}
	}
	if e.Logger == nil {
		e.Logger = zap.NewNop()
	}
	return e
}

// remoteHost is the address of the TCP peer.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Handler is the rest of the server's handler chain, as Caddy's
// caddyhttp.Handler is.
type Handler interface {
	ServeHTTP(http.ResponseWriter, *http.Request) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(http.ResponseWriter, *http.Request) error

// ServeHTTP calls f.
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// StatusError is the answer to a client that does not read HTML: a status
// and why. The gate sets the headers it needs (WWW-Authenticate,
// Cache-Control) and returns it instead of writing a body, so that the
// server turns it into its own error (caddyhttp.Error) and a site's
// handle_errors can restyle it.
type StatusError struct {
	Status int
	Err    error
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %v", e.Status, http.StatusText(e.Status), e.Err)
}

// Unwrap returns the reason.
func (e *StatusError) Unwrap() error { return e.Err }

// statusError makes a StatusError of a reason given as text.
func statusError(status int, reason string) error {
	return &StatusError{Status: status, Err: errors.New(reason)}
}

// Serve adapts a gate to a plain net/http server, for tests and for servers
// other than Caddy: a StatusError becomes its status with the reason as a
// plain-text body, as Caddy does without handle_errors (plus the body).
// The gate gets a copy of the connection's request, as in Caddy: it may
// change the request (a passed preflight loses its body), while the server
// still reads the connection by the request as it came.
func Serve(g *Gate, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(r.Context())
		err := g.ServeHTTP(w, r, HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			next.ServeHTTP(w, r)
			return nil
		}))
		var se *StatusError
		if errors.As(err, &se) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(se.Status)
			fmt.Fprintln(w, se.Error())
		} else if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}
