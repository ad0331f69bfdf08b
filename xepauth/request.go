package xepauth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"mellium.im/xmpp/jid"
)

// Request is one confirmation to ask for.
type Request struct {
	// JID is who must confirm: a full JID gets an iq, a bare JID a message.
	JID jid.JID
	// Site names the site being logged in to, in the message body.
	Site string
	// URL and Method are those of the HTTP request being confirmed.
	URL    string
	Method string
	// Code is the transaction id: shown on the web page, sent in the
	// <confirm/> and in the body, and accepted as a plain-text answer.
	Code string
	// Language picks the body's language ("en", "fr", "fr-CA"); unknown
	// languages fall back to English.
	Language string
	// Messages, when set, supply the body's text (see Messages.Body); nil
	// means the built-in texts (DefaultMessages).
	Messages Messages
}

// Result is how an ask ended.
type Result int

// The results of an ask. The zero value is Timeout, so an ask that ended for
// no other reason reads as one.
const (
	// Timeout: no answer came before the ask's context ended.
	Timeout Result = iota
	// Approved: the asked JID confirmed.
	Approved
	// Denied: the asked JID refused (any error-typed answer from it).
	Denied
	// Unreachable: the request could not be delivered (no connection to the
	// XMPP server, the connection dropped, or the server bounced it).
	Unreachable
)

// String returns the result's name as used in logs and pages.
func (r Result) String() string {
	switch r {
	case Approved:
		return "approved"
	case Denied:
		return "denied"
	case Unreachable:
		return "unreachable"
	default:
		return "timeout"
	}
}

// Outcome is the answer to a Request.
type Outcome struct {
	Result Result
	// By is the address that answered, for Approved and Denied.
	By jid.JID
	// Via tells how the answer came: "iq", "message" or "plaintext".
	Via string
	// Detail says more for logs: an error condition, or why the request
	// could not be delivered. Never shown as the only explanation.
	Detail string
}

// codeAlphabet leaves out letters and digits that read alike (0/O, 1/I/L),
// since the visitor may have to type the code into a chat.
const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// NewCode returns a random code of n characters from crypto/rand, easy to
// read aloud and to type: 6 characters give about 30 bits. It never begins
// with a refusal word, so typing it can never read as "no".
func NewCode(n int) string {
	b := make([]byte, n)
	for {
		// rand.Read never fails since Go 1.24; it crashes the program instead.
		_, _ = rand.Read(b)
		for i := range b {
			// 256 is not a multiple of len(codeAlphabet); the bias this
			// leaves is below 1% per character and does not matter for a
			// short-lived code.
			b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
		}
		if ValidCode(string(b)) == nil {
			return string(b)
		}
	}
}

// ValidCode reports whether a transaction id can be asked: a person must be
// able to type it back without it reading as something else. So it must
// have letters or digits, at most 64 bytes, no control or formatting
// characters (a right-to-left override could make a code read differently
// from what is sent), and it must not read as a refusal ("no", "non") nor
// begin with one, since "no CODE" refuses CODE.
func ValidCode(code string) error {
	if len(code) > 64 {
		return errors.New("code longer than 64 bytes")
	}
	for _, r := range code {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return errors.New("code has control or formatting characters")
		}
	}
	n := normaliseCode(code)
	if n == "" {
		return errors.New("code has no letters or digits")
	}
	for _, w := range refusals {
		if strings.HasPrefix(n, w) {
			return fmt.Errorf("code %q reads as a refusal (%q) when typed", code, strings.ToLower(w))
		}
	}
	return nil
}

// NormaliseCode folds a code as a typed answer is folded before it is
// compared: two codes with the same normal form are the same answer.
func NormaliseCode(code string) string { return normaliseCode(code) }

// newID returns 128 random bits in hex, for stanza ids and threads.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// normaliseCode folds what a person may type around a code (spaces, dashes,
// punctuation, case) so that " abc-def. " matches "ABCDEF".
func normaliseCode(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}
