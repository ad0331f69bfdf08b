package openid

import (
	"errors"
	"sync"
	"time"
)

// Store is what a provider keeps between requests, and what outlives a
// config reload: the authorization requests, codes and tokens. It is kept
// in memory: a restart ends them, and a relying party then sends its
// visitor to log in again, which a visitor with a session does without
// being asked.
type Store struct {
	mu       sync.Mutex
	requests map[string]*authRequest    // by id
	from     map[string]int             // waiting requests by client network
	codes    map[string]string          // code -> request id
	access   map[string]*token          // by id
	refresh  map[string]*token          // by the refresh token itself
	byUser   map[string]map[string]bool // refresh tokens by userKey
	swept    time.Time
}

// maxRefreshPerUser bounds the refresh tokens of one visitor at one
// client: a visitor with a session gets a code, and so a refresh token,
// without being asked, as often as they like. Past it, the oldest goes.
const maxRefreshPerUser = 20

// userKey names a visitor at a client.
func userKey(clientID, subject string) string { return clientID + "\x00" + subject }

// NewStore makes an empty store.
func NewStore() *Store {
	return &Store{requests: map[string]*authRequest{}, from: map[string]int{}, codes: map[string]string{},
		access: map[string]*token{}, refresh: map[string]*token{}, byUser: map[string]map[string]bool{}}
}

// errNotFound is a request, code or token that is not (or no longer) there.
var errNotFound = errors.New("not found, or expired")

// sweep forgets what has expired, at most once a minute. The caller holds mu.
func (s *Store) sweep(now time.Time) {
	if now.Sub(s.swept) < time.Minute {
		return
	}
	s.swept = now
	for id, a := range s.requests {
		if now.Sub(a.created) > requestLifetime || !a.visited && now.Sub(a.created) > unvisitedLifetime {
			s.removeRequest(id)
		}
	}
	for id, t := range s.access {
		if !now.Before(t.expires) {
			delete(s.access, id)
		}
	}
	for rt, t := range s.refresh {
		if !now.Before(t.expires) {
			s.removeRefresh(rt)
		}
	}
}

// admit keeps a if its networks have room, taking the place of the oldest
// request nobody has visited when the store is full; it reports whether it
// did. The caller holds mu.
func (s *Store) admit(a *authRequest) bool {
	for _, n := range a.networks {
		if s.from[n.Key] >= maxRequestsPerNetwork*n.Scale {
			return false
		}
	}
	if len(s.requests) >= maxRequests {
		var oldest *authRequest
		for _, r := range s.requests {
			if !r.visited && (oldest == nil || r.created.Before(oldest.created)) {
				oldest = r
			}
		}
		if oldest == nil {
			return false
		}
		s.removeRequest(oldest.id)
	}
	s.requests[a.id] = a
	for _, n := range a.networks {
		s.from[n.Key]++
	}
	return true
}

// removeRequest forgets request id and its code; the caller holds mu.
func (s *Store) removeRequest(id string) {
	a := s.requests[id]
	if a == nil {
		return
	}
	delete(s.requests, id)
	if a.code != "" {
		delete(s.codes, a.code)
	}
	for _, n := range a.networks {
		if s.from[n.Key]--; s.from[n.Key] <= 0 {
			delete(s.from, n.Key)
		}
	}
}

// addRefresh keeps refresh token value, dropping the visitor's oldest
// past maxRefreshPerUser; the caller holds mu.
func (s *Store) addRefresh(value string, t *token) {
	k := userKey(t.clientID, t.subject)
	mine := s.byUser[k]
	if mine == nil {
		mine = map[string]bool{}
		s.byUser[k] = mine
	}
	for len(mine) >= maxRefreshPerUser {
		oldest := ""
		for v := range mine {
			if oldest == "" || s.refresh[v].issued.Before(s.refresh[oldest].issued) {
				oldest = v
			}
		}
		s.removeRefresh(oldest)
	}
	s.refresh[value] = t
	mine[value] = true
}

// removeRefresh forgets refresh token value; the caller holds mu.
func (s *Store) removeRefresh(value string) {
	t := s.refresh[value]
	if t == nil {
		return
	}
	delete(s.refresh, value)
	k := userKey(t.clientID, t.subject)
	delete(s.byUser[k], value)
	if len(s.byUser[k]) == 0 {
		delete(s.byUser, k)
	}
}

// endUser forgets every token of a visitor at a client; the caller holds
// mu.
func (s *Store) endUser(clientID, subject string) {
	for value := range s.byUser[userKey(clientID, subject)] {
		s.removeRefresh(value)
	}
	for id, t := range s.access {
		if t.clientID == clientID && t.subject == subject {
			delete(s.access, id)
		}
	}
}

// visit records that the visitor has come to request id's login page,
// which keeps it past unvisitedLifetime.
func (s *Store) visit(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.requests[id]; a != nil {
		a.visited = true
	}
}

// markDone records the login of request id, if it is still there.
func (s *Store) markDone(id, jid, subject string, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.requests[id]
	if a == nil || a.done {
		return a != nil && a.jid == jid
	}
	a.done, a.jid, a.subject, a.authTime = true, jid, subject, at
	return true
}
