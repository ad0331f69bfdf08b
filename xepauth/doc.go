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
// JID for an iq, the bare JID for a message). Everything else — answers from
// other accounts, late duplicates, malformed stanzas, addresses that do not
// parse — is dropped and logged, and never ends the XMPP session.
//
// The package knows nothing of HTTP or Caddy: it turns a [Request] into an
// [Outcome].
package xepauth
