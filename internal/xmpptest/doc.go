// Package xmpptest is the end-to-end harness for xepauth: it runs a real
// XMPP server (Prosody or ejabberd) on loopback and drives scripted XMPP
// users and raw components against it.
//
// Why a real server: the behaviours that matter for XEP-0070 (how bounces
// look, which stanzas the server routes, what survives a restart) are server
// behaviours, and a fake would only encode our own assumptions. Why two:
// they differ in ways code must not depend on (see TestServerDifferences).
//
// The pieces:
//
//   - [StartServer] writes a throwaway configuration (plaintext c2s, one
//     virtual host, one or more components, no s2s, everything on 127.0.0.1
//     with ports chosen at run time) for a [Kind] of server and starts it in
//     the foreground. [Server] can then be stopped, killed, paused and
//     restarted on the same ports and data, so tests can exercise reconnect
//     logic.
//   - [Server.Connect] logs in a scripted user written with mellium. The
//     user answers XEP-0070 confirm requests according to its [Behaviour]
//     (approve, deny, stay silent, or behave like a client that does not know
//     XEP-0070) and reports every request it saw on [User.Requests].
//   - [DialRawComponent] performs the XEP-0114 handshake by hand, so tests
//     can inject stanzas that a well-behaved library would refuse to build.
//   - [Server.ConnectRaw] logs a client in by hand with its name exactly as
//     given (mellium would normalise it), to see what a server makes of a
//     name typed otherwise than its account's canonical spelling (see
//     TestServersStampTheSender), or with a SASL authorization identity
//     naming another account ([WithAuthzid]; see
//     TestEjabberd2301BindsASASLPlainAuthzidOfAnotherAccount).
//
// The core API never needs a *testing.T, so the demo command can use it too;
// [NewServer], [NewServerOf] and [Server.NewUser] are thin testing.TB
// wrappers that skip under -short and clean up after the test. NewServer
// picks the server from $XEPAUTH_XMPP_SERVER, so a whole end-to-end suite
// runs against ejabberd with
//
//	XEPAUTH_XMPP_SERVER=ejabberd go test ./...
package xmpptest
