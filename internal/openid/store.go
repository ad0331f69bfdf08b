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
	requests map[string]*authRequest // by id
	codes    map[string]string       // code -> request id
	access   map[string]*token       // by id
	refresh  map[string]*token       // by the refresh token itself
	swept    time.Time
}

// NewStore makes an empty store.
func NewStore() *Store {
	return &Store{requests: map[string]*authRequest{}, codes: map[string]string{}, access: map[string]*token{}, refresh: map[string]*token{}}
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
		if now.Sub(a.created) > requestLifetime {
			delete(s.requests, id)
			if a.code != "" {
				delete(s.codes, a.code)
			}
		}
	}
	for id, t := range s.access {
		if !now.Before(t.expires) {
			delete(s.access, id)
		}
	}
	for rt, t := range s.refresh {
		if !now.Before(t.expires) {
			delete(s.refresh, rt)
		}
	}
}
