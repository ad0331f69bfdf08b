// Package openid is an OpenID Connect provider whose login is the gate's:
// an application redirects a visitor here, the visitor logs in exactly as
// on any gated site (their XMPP address, a code, an approval in their own
// XMPP client), and the application gets an ID token that names them.
//
// The protocol is zitadel/oidc's op package; this package supplies what op
// leaves to its user: the clients from the config (clients.go), the
// authorization requests and codes (requests.go), the tokens (tokens.go),
// the signing keys kept in storage and rotated (keys.go), the claims an
// XMPP address can honestly make (claims.go), and the interactive login
// (login.go), which hands over to a login.Gate. Provider (provider.go) puts
// them together behind one http.Handler-like ServeHTTP.
//
// Where does an approval become an ID token? login.go marks the request
// done with the session's address; op's callback turns it into a code,
// and the token endpoint into tokens (storage.go).
package openid
