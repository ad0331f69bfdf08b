package login

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// revokedPrefix is where revoked session ids are kept in Caddy's storage:
// one key a logout, under a random name of its own, holding a line
// "<id in hex> <Unix time>" for each session it ends, the time being when
// the session would have expired anyway and the line can go. A name of its
// own, because two logouts can end the same session (on two instances
// before either reloads the list) along with different others, and the
// second must not overwrite the first. Entries written before logouts were
// batched hold only the time, and are named after their one id; both are
// read.
const revokedPrefix = "xmpp_auth/revoked"

// revocation is one session ended by a logout, until it would have
// expired anyway.
type revocation struct {
	id    [16]byte
	until time.Time
}

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

type storageRef struct{ Storage }

const refreshEvery = time.Minute

func newRevocations() *revocations {
	rv := &revocations{}
	rv.ids.Store(&map[[16]byte]int64{})
	return rv
}

// useStorage points the list at the newest config's storage.
func (rv *revocations) useStorage(st Storage) {
	if st != nil {
		rv.st.Store(&storageRef{st})
	}
}

// revoked reports whether the session id was ended by a logout.
func (rv *revocations) revoked(id [16]byte, now time.Time) bool {
	exp, ok := (*rv.ids.Load())[id]
	return ok && now.Unix() < exp
}

// revoke ends sessions until they would have expired, with one write to
// storage.
func (rv *revocations) revoke(ctx context.Context, ended ...revocation) error {
	if len(ended) == 0 {
		return nil
	}
	rv.mu.Lock()
	old := *rv.ids.Load()
	m := make(map[[16]byte]int64, len(old)+len(ended))
	for k, v := range old {
		m[k] = v
	}
	var value strings.Builder
	for _, e := range ended {
		m[e.id] = e.until.Unix()
		fmt.Fprintf(&value, "%x %d\n", e.id, e.until.Unix())
	}
	rv.ids.Store(&m)
	rv.mu.Unlock()
	st := rv.st.Load()
	if st == nil {
		return errors.New("no storage to keep the revocation in")
	}
	var name [16]byte
	_, _ = rand.Read(name[:])
	key := revokedPrefix + "/" + hex.EncodeToString(name[:])
	if err := st.Store(ctx, key, []byte(value.String())); err != nil {
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
		name := k[strings.LastIndexByte(k, '/')+1:]
		if !revocationName(name) {
			// Not an entry: a storage's temporary file, say, that an
			// entry is being written into (Caddy's file storage writes
			// beside the entry and renames), which must not be deleted.
			continue
		}
		raw, err := st.Load(ctx, k)
		if err != nil {
			continue
		}
		entries := parseRevocations(name, string(raw))
		live := false
		for _, e := range entries {
			if e.until.Unix() > now.Unix() {
				m[e.id] = max(m[e.id], e.until.Unix())
				live = true
			}
		}
		if len(entries) > 0 && !live {
			_ = st.Delete(ctx, k)
		}
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

// revocationName reports whether name is that of an entry: 32 hex digits,
// as revoke writes them (and as entries named after their session were).
func revocationName(name string) bool {
	if len(name) != 32 {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil
}

// parseRevocations reads one storage entry: lines "<id in hex> <Unix
// time>", or, written before logouts were batched, the time alone for the
// id the entry is named after. Lines that do not read are skipped.
func parseRevocations(name, value string) []revocation {
	var out []revocation
	for _, line := range strings.Split(value, "\n") {
		f := strings.Fields(line)
		if len(f) == 1 {
			f = []string{name, f[0]}
		}
		if len(f) != 2 {
			continue
		}
		var id [16]byte
		if n, err := hex.Decode(id[:], []byte(f[0])); err != nil || n != 16 {
			continue
		}
		exp, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, revocation{id: id, until: time.Unix(exp, 0)})
	}
	return out
}

// keepLoading reloads the list until ctx ends, so that a logout on
// another instance sharing the storage takes effect here within a minute.
func (rv *revocations) keepLoading(ctx context.Context, now func() time.Time, log *zap.Logger) {
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rv.load(ctx, now(), log)
		}
	}
}
