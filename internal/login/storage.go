package login

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// Storage is where what must survive a restart, and reach every server
// that shares it, is kept: the generated session key and the revocation
// list. Caddy's storage (certmagic.Storage) is one; a missing key is an
// error that wraps fs.ErrNotExist.
type Storage interface {
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, path string, recursive bool) ([]string, error)
	// Lock and Unlock serialise the servers sharing the storage, for the
	// generation of the one session key.
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
}

// LoadOrCreate returns what st keeps at key, made by create and kept there
// the first time. Every server that shares st gets the same value: the
// storage's lock makes one of them create it, and the others read it.
func LoadOrCreate(ctx context.Context, st Storage, key string, create func() ([]byte, error)) ([]byte, error) {
	if v, err := st.Load(ctx, key); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return v, wrapLoad(key, err)
	}
	if err := st.Lock(ctx, key); err != nil {
		return nil, fmt.Errorf("lock %s in storage: %w", key, err)
	}
	defer func() { _ = st.Unlock(context.WithoutCancel(ctx), key) }()
	if v, err := st.Load(ctx, key); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return v, wrapLoad(key, err)
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	if err := st.Store(ctx, key, v); err != nil {
		return nil, fmt.Errorf("store %s: %w", key, err)
	}
	return v, nil
}

func wrapLoad(key string, err error) error {
	if err != nil {
		return fmt.Errorf("load %s from storage: %w", key, err)
	}
	return nil
}
