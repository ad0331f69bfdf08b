package xepauth

import (
	"sync"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
)

// ask is one Request waiting for its answer on one connection.
type ask struct {
	req  Request
	full jid.JID // the asked full JID; zero when the request went to a bare JID
	bare jid.JID
	code string // normalised, for plain-text answers

	// Set under table.mu.
	iqID   string
	msgID  string
	thread string

	// events carries what the router learned; the asking goroutine reads
	// it. One final outcome and one fallback fit, so the router never
	// blocks.
	events chan event
}

// event is what the router hands to the asking goroutine.
type event struct {
	// fallback: the client does not understand the iq; send a message to
	// the bare JID instead. Otherwise the outcome is final.
	fallback bool
	outcome  Outcome
}

func newAsk(req Request) *ask {
	a := &ask{
		req:    req,
		bare:   req.JID.Bare(),
		code:   normaliseCode(req.Code),
		events: make(chan event, 2),
	}
	if req.JID.Resourcepart() != "" {
		a.full = req.JID
	}
	return a
}

// table indexes the asks of one connection by every key an answer can be
// matched with: stanza id, thread, asked bare JID (for a plain-text "no"),
// and normalised code (for answers that carry only the code). The code
// index lets a stray code, from an account that was not asked, be found
// with a map lookup instead of a scan of every pending ask under the lock.
type table struct {
	mu       sync.Mutex
	closed   bool
	byID     map[string]*ask
	byThread map[string]*ask
	byBare   map[string][]*ask
	byCode   map[string][]*ask
	log      *zap.Logger
}

func newTable(log *zap.Logger) *table {
	return &table{
		byID:     make(map[string]*ask),
		byThread: make(map[string]*ask),
		byBare:   make(map[string][]*ask),
		byCode:   make(map[string][]*ask),
		log:      log,
	}
}

// add registers a; it fails once the connection is gone.
func (t *table) add(a *ask) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	k := a.bare.String()
	t.byBare[k] = append(t.byBare[k], a)
	t.byCode[a.code] = append(t.byCode[a.code], a)
	return true
}

// useIQ records the id of the iq sent for a.
func (t *table) useIQ(a *ask, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a.iqID = id
	t.byID[id] = a
}

// useMessage records the id and thread of the message sent for a, and
// forgets its iq: an iq answer after the fallback is stale.
func (t *table) useMessage(a *ask, id, thread string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.iqID != "" {
		delete(t.byID, a.iqID)
		a.iqID = ""
	}
	a.msgID, a.thread = id, thread
	t.byID[id] = a
	t.byThread[thread] = a
}

// remove forgets a. Answers that come later find nothing and are dropped.
func (t *table) remove(a *ask) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(a)
}

func (t *table) removeLocked(a *ask) {
	if a.iqID != "" && t.byID[a.iqID] == a {
		delete(t.byID, a.iqID)
	}
	if a.msgID != "" && t.byID[a.msgID] == a {
		delete(t.byID, a.msgID)
	}
	if a.thread != "" && t.byThread[a.thread] == a {
		delete(t.byThread, a.thread)
	}
	without(t.byBare, a.bare.String(), a)
	without(t.byCode, a.code, a)
}

// without removes a from the list index[k], and the key with its list
// once the list is empty.
func without(index map[string][]*ask, k string, a *ask) {
	list := index[k]
	for i, b := range list {
		if b == a {
			// A fresh array rather than a shift in place, so that a
			// list handed out earlier keeps what it held.
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(index, k)
	} else {
		index[k] = list
	}
}

// finishLocked removes a and hands it its outcome: the first answer wins,
// and duplicates find a gone.
func (t *table) finishLocked(a *ask, o Outcome) {
	t.removeLocked(a)
	a.events <- event{outcome: o}
}

// closeAll ends every ask as unreachable: the connection they were sent on
// is gone, so no answer can come back on it.
func (t *table) closeAll(detail string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, list := range t.byBare {
		for _, a := range list {
			a.events <- event{outcome: Outcome{Result: Unreachable, Detail: detail}}
		}
	}
	t.byID = map[string]*ask{}
	t.byThread = map[string]*ask{}
	t.byBare = map[string][]*ask{}
	t.byCode = map[string][]*ask{}
}

// len returns the number of pending asks.
func (t *table) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, list := range t.byBare {
		n += len(list)
	}
	return n
}
