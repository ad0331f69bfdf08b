package xepauth

import (
	"slices"
	"strings"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
)

// Conditions of an iq error that mean "this client does not speak XEP-0070"
// (XEP-0070 §4.5 and RFC 6120 §8.3.3): ask again by message, whose body a
// person can read and answer in plain text.
var fallbackConditions = map[string]bool{
	"service-unavailable":     true,
	"feature-not-implemented": true,
}

// Conditions of an iq error that mean the request never reached anyone who
// could answer.
var unreachableConditions = map[string]bool{
	"remote-server-not-found": true,
	"remote-server-timeout":   true,
	"recipient-unavailable":   true,
	"item-not-found":          true,
	"gone":                    true,
}

// routeIQ matches an iq result or error to its ask. Only the full JID that
// was asked can answer an iq.
func (t *table) routeIQ(s *wireStanza, from jid.JID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.byID[s.ID]
	if a == nil || a.iqID != s.ID {
		t.log.Debug("dropped iq answer that matches no pending request",
			zap.String("from", s.From), zap.String("id", s.ID), zap.String("type", s.Type))
		return
	}
	if !from.Equal(a.full) {
		t.log.Warn("dropped iq answer from an address that was not asked",
			zap.String("from", s.From), zap.Stringer("asked", a.full), zap.String("type", s.Type))
		return
	}
	if s.Type == "result" {
		t.finishLocked(a, Outcome{Result: Approved, By: from, Via: "iq"})
		return
	}
	cond := s.condition()
	switch {
	case fallbackConditions[cond]:
		// Keep the ask; its goroutine sends the message. The iq id is
		// forgotten there, so a second error is not a second fallback.
		delete(t.byID, a.iqID)
		a.iqID = ""
		a.events <- event{fallback: true, outcome: Outcome{Detail: cond}}
	case unreachableConditions[cond]:
		t.finishLocked(a, Outcome{Result: Unreachable, By: from, Via: "iq", Detail: cond})
	default:
		t.finishLocked(a, Outcome{Result: Denied, By: from, Via: "iq", Detail: cond})
	}
}

// routeMessage matches a message to its ask: by thread, by stanza id (for
// bounces, which on Prosody carry nothing else), by the code in a
// <confirm/> (Movim and SàT answer without the thread), or by the code
// typed as plain text. Only the bare JID that was asked can answer.
func (t *table) routeMessage(s *wireStanza, from jid.JID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	bare := from.Bare()
	c := s.confirm()

	var a *ask
	if th := s.thread(); th != "" {
		a = t.byThread[th]
	}
	if a == nil && s.ID != "" {
		if b := t.byID[s.ID]; b != nil && b.msgID == s.ID {
			a = b
		}
	}
	if a == nil && c != nil {
		a = t.byCodeLocked(bare, normaliseCode(c.ID))
		if a == nil {
			if other := t.byCodeLocked(jid.JID{}, normaliseCode(c.ID)); other != nil {
				t.log.Warn("dropped confirmation of a pending code from an account that was not asked",
					zap.String("from", s.From), zap.Stringer("asked", other.bare))
				return
			}
		}
	}

	if s.Type == "error" {
		if a == nil {
			t.log.Debug("dropped error message that matches no pending request",
				zap.String("from", s.From), zap.String("id", s.ID))
			return
		}
		if !bare.Equal(a.bare) {
			t.warnSender(s, a)
			return
		}
		cond := s.condition()
		if from.Resourcepart() == "" {
			// A client answers from its full JID; an error from the bare
			// JID is the user's server bouncing the request.
			t.finishLocked(a, Outcome{Result: Unreachable, By: from, Via: "message", Detail: "bounced: " + cond})
			return
		}
		t.finishLocked(a, Outcome{Result: Denied, By: from, Via: "message", Detail: cond})
		return
	}
	if s.Type == "groupchat" {
		return
	}

	if c != nil {
		if a == nil {
			t.log.Debug("dropped confirmation that matches no pending request",
				zap.String("from", s.From), zap.String("id", c.ID))
			return
		}
		if !bare.Equal(a.bare) {
			t.warnSender(s, a)
			return
		}
		if normaliseCode(c.ID) != a.code {
			t.log.Warn("dropped confirmation whose code differs from the one asked",
				zap.String("from", s.From), zap.String("code", c.ID))
			return
		}
		t.finishLocked(a, Outcome{Result: Approved, By: from, Via: "message"})
		return
	}

	if body := s.body(); body != "" {
		t.routePlainTextLocked(s, from, normaliseCode(body))
		return
	}
	t.log.Debug("dropped message without confirmation or text", zap.String("from", s.From))
}

// refusals are the words that refuse in plain text, normalised: the body
// tells English readers to type "no" and French readers "non".
var refusals = []string{"NON", "NO"}

// routePlainTextLocked reads a chat answer from a client without XEP-0070:
// the code approves; "no" or "non", alone or followed by the code, refuses.
func (t *table) routePlainTextLocked(s *wireStanza, from jid.JID, text string) {
	bare := from.Bare()
	if slices.Contains(refusals, text) {
		list := t.byBare[bare.String()]
		if len(list) == 1 {
			t.finishLocked(list[0], Outcome{Result: Denied, By: from, Via: "plaintext"})
			return
		}
		t.log.Info("ignored a plain-text refusal that could mean several pending requests; it must name the code",
			zap.String("from", s.From), zap.Int("pending", len(list)))
		return
	}
	// No code begins with a refusal word (ValidCode), so the order of
	// these checks cannot turn a refusal into an approval.
	for _, word := range refusals {
		if code, ok := strings.CutPrefix(text, word); ok {
			if a := t.byCodeLocked(bare, code); a != nil {
				t.finishLocked(a, Outcome{Result: Denied, By: from, Via: "plaintext"})
				return
			}
		}
	}
	if a := t.byCodeLocked(bare, text); a != nil {
		t.finishLocked(a, Outcome{Result: Approved, By: from, Via: "plaintext"})
		return
	}
	if other := t.byCodeLocked(jid.JID{}, text); other != nil {
		t.log.Warn("dropped plain-text code from an account that was not asked",
			zap.String("from", s.From), zap.Stringer("asked", other.bare))
		return
	}
	t.log.Debug("dropped chat message that answers no pending request", zap.String("from", s.From))
}

// byCodeLocked finds a pending ask with the given normalised code, asked of
// bare, or of anyone when bare is zero: the first one asked, when several
// share the code. A lookup in the code index, so a stray code costs the
// same however many asks are pending.
func (t *table) byCodeLocked(bare jid.JID, code string) *ask {
	if code == "" {
		return nil
	}
	list := t.byCode[code]
	if bare.Equal(jid.JID{}) {
		if len(list) == 0 {
			return nil
		}
		return list[0]
	}
	for _, a := range list {
		if a.bare.Equal(bare) {
			return a
		}
	}
	return nil
}

func (t *table) warnSender(s *wireStanza, a *ask) {
	t.log.Warn("dropped answer from an account that was not asked",
		zap.String("from", s.From), zap.Stringer("asked", a.bare), zap.String("type", s.Type))
}
