package caddymodule

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// revokedPrefix is where revoked session ids are kept in Caddy's storage,
// one key each, holding the Unix time after which the session would have
// expired anyway and the entry can go.
const revokedPrefix = "xmpp_auth/revoked"

// revocations is the list of sessions ended by logout. Checking it is on
// every request's path, so readers take no lock: the map is replaced, never
// changed, and logouts are rare. It is kept in storage so that it survives
// a restart and reaches every instance that shares the storage, which
// reloads it every refreshEvery.
type revocations struct {
	ids atomic.Pointer[map[[16]byte]int64]

	mu sync.Mutex // serialises writers
	st atomic.Pointer[storageRef]
}

type storageRef struct{ certmagic.Storage }

const refreshEvery = time.Minute

func newRevocations() *revocations {
	rv := &revocations{}
	rv.ids.Store(&map[[16]byte]int64{})
	return rv
}

// useStorage points the list at the newest config's storage.
func (rv *revocations) useStorage(st certmagic.Storage) {
	if st != nil {
		rv.st.Store(&storageRef{st})
	}
}

// revoked reports whether the session id was ended by a logout.
func (rv *revocations) revoked(id [16]byte, now time.Time) bool {
	exp, ok := (*rv.ids.Load())[id]
	return ok && now.Unix() < exp
}

// revoke ends a session until it would have expired.
func (rv *revocations) revoke(ctx context.Context, id [16]byte, until time.Time) error {
	rv.mu.Lock()
	old := *rv.ids.Load()
	m := make(map[[16]byte]int64, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[id] = until.Unix()
	rv.ids.Store(&m)
	rv.mu.Unlock()
	st := rv.st.Load()
	if st == nil {
		return errors.New("no storage to keep the revocation in")
	}
	key := revokedPrefix + "/" + hex.EncodeToString(id[:])
	if err := st.Store(ctx, key, []byte(strconv.FormatInt(until.Unix(), 10))); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

// load reads the list from storage, dropping (and deleting) entries whose
// sessions have expired anyway.
func (rv *revocations) load(ctx context.Context, now time.Time, log *zap.Logger) {
	ref := rv.st.Load()
	if ref == nil {
		return
	}
	st := ref.Storage
	keys, err := st.List(ctx, revokedPrefix, false)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			log.Warn("cannot read the session revocation list from storage", zap.Error(err))
		}
		return
	}
	m := make(map[[16]byte]int64, len(keys))
	for _, k := range keys {
		var id [16]byte
		name := k[strings.LastIndexByte(k, '/')+1:]
		if n, err := hex.Decode(id[:], []byte(name)); err != nil || n != 16 {
			continue
		}
		raw, err := st.Load(ctx, k)
		if err != nil {
			continue
		}
		exp, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil || exp <= now.Unix() {
			_ = st.Delete(ctx, k)
			continue
		}
		m[id] = exp
	}
	rv.mu.Lock()
	// Keep what this instance revoked meanwhile, even if storage is slow.
	for id, exp := range *rv.ids.Load() {
		if _, ok := m[id]; !ok && exp > now.Unix() {
			m[id] = exp
		}
	}
	rv.ids.Store(&m)
	rv.mu.Unlock()
}

// keepLoading reloads the list until ctx ends, so that a logout on
// another instance sharing the storage takes effect here within a minute.
func (rv *revocations) keepLoading(ctx context.Context, log *zap.Logger) {
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rv.load(ctx, now, log)
		}
	}
}
