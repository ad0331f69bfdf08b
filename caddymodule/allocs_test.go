//go:build !race

package caddymodule

import (
	"net/http/httptest"
	"testing"
	"time"
)

// Built only without the race detector, which makes sync.Pool drop items
// and so distorts allocation counts; the test command runs it in a step of
// its own, without -race.

// TestSessionCheckAllocs is the regression guard for BenchmarkSessionCheck,
// with generous limits: the check must stay within two allocations (the
// JID, and nothing per cookie) and well under the 1 µs it takes here.
func TestSessionCheckAllocs(t *testing.T) {
	h := perfHandler(t)
	r := perfRequest(t, h)
	w := httptest.NewRecorder()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := h.session(w, r); !ok {
			t.Fatal("no session")
		}
	})
	if allocs > 2 {
		t.Errorf("the session check makes %v allocations, want at most 2", allocs)
	}
	if testing.Short() {
		return
	}
	res := testing.Benchmark(BenchmarkSessionCheck)
	if per := time.Duration(res.NsPerOp()); per > 20*time.Microsecond {
		t.Errorf("the session check takes %v, want well under 20µs (the bar is 1µs)", per)
	}
	// Passing the request on rebuilds the Cookie header once and sets the
	// user header: two allocations.
	cookie := r.Header["Cookie"][0]
	cookies := make([]string, 1)
	allocs = testing.AllocsPerRun(1000, func() {
		cookies[0] = cookie
		r.Header["Cookie"] = cookies
		h.pass(r, "alice@example.org")
	})
	if allocs > 3 {
		t.Errorf("pass makes %v allocations, want at most 3", allocs)
	}
}
