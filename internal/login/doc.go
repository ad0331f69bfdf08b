// Package login is the web side of an XMPP login, with no Caddy in it: the
// login flow (the form, the waiting page, the status poll that cashes in an
// approval), sessions (issued, checked, refreshed, revoked), pages in the
// visitor's language, the limits against prompt bombing, CSRF and return
// paths, and the Basic and /auth API transactions.
//
// A [Service] is what every gate of a server shares and what outlives a
// config reload: it asks through an [Asker] (an xepauth.Component). A
// [Gate] is one site's login, made by [NewGate] from a [Config]; an [API]
// serves the /auth API of HTTPAuthenticationOverXMPP. What the server
// provides (the client IP, the URL before rewrites, where the user id goes,
// storage) comes through small interfaces: [Env] and [Storage]. Package
// caddymodule is the Caddy glue; [Serve] adapts a gate to plain net/http.
//
// Where does a cookie become a user? sessions.go (validSession), with the
// codec of package session. Where does a form become a login? flow.go.
package login
