// Package xepauth asks an XMPP user to confirm an HTTP request, as XEP-0070
// (Verifying HTTP Requests via XMPP) describes, through one XMPP component
// connection (XEP-0114).
//
// A [Component] keeps that connection up: one supervisor goroutine dials the
// XMPP server, runs the stream, and redials with capped exponential backoff
// when it drops. [Component.Ask] sends a <confirm/> to a JID and waits for the
// answer:
//
//   - a full JID (user@host/resource) gets an <iq type='get'>; when the client
//     does not understand it (service-unavailable, feature-not-implemented, or
//     the legacy codes 503/501) the request is sent again as a message to the
//     bare JID;
//   - a bare JID gets a <message type='normal'> with a random <thread>, a
//     human-readable body and the <confirm/>.
//
// An answer counts only when it comes from the JID that was asked (the full
// JID for an iq, the bare JID for a message), and when the server wrote that
// address in canonical form (ASCII capitals aside) and every XMPP server
// reads it the same way ([Unambiguous]): ejabberd stamps a client's stanzas
// with its name as typed at login, which the gate could otherwise read as
// someone else's address. Everything else — answers from other accounts,
// addresses servers read otherwise, late duplicates, malformed stanzas,
// addresses that do not parse — is dropped and logged, and never ends the
// XMPP session.
//
// Callers that take an address from a person (a web form, Basic
// credentials) should refuse it when [Unambiguous] does: the component
// would send the request, but never accept an answer to it.
//
// The package knows nothing of HTTP or Caddy: it turns a [Request] into an
// [Outcome].
package xepauth
