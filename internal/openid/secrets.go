package openid

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"

	"github.com/xepauth/caddy-xepauth/internal/login"
)

// storedSecret returns the n random bytes kept at key in st, generating
// them there the first time. Every server that shares the storage gets the
// same bytes: the lock makes one of them generate, the others read.
func storedSecret(ctx context.Context, st login.Storage, key string, n int) ([]byte, error) {
	if b, err := st.Load(ctx, key); err == nil {
		return checkLen(key, b, n)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load %s: %w", key, err)
	}
	if err := st.Lock(ctx, key); err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	defer func() { _ = st.Unlock(context.WithoutCancel(ctx), key) }()
	if b, err := st.Load(ctx, key); err == nil {
		return checkLen(key, b, n)
	}
	b := make([]byte, n)
	_, _ = rand.Read(b)
	if err := st.Store(ctx, key, b); err != nil {
		return nil, fmt.Errorf("store %s: %w", key, err)
	}
	return b, nil
}

func checkLen(key string, b []byte, n int) ([]byte, error) {
	if len(b) != n {
		return nil, fmt.Errorf("%s in storage holds %d bytes, not %d: delete it to have a new one made (the tokens it protects end)", key, len(b), n)
	}
	return b, nil
}
