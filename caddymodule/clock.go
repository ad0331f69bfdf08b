package caddymodule

import (
	"context"
	"sync/atomic"
	"time"
)

// clockTick is how often the clock advances, and so how late it may be.
const clockTick = 100 * time.Millisecond

// clock tells the time to the second, which is all a session check needs
// (cookies carry their times in seconds), for the price of an atomic load.
// Reading the system clock costs about 100 ns on the virtual machines
// servers commonly run on, a tenth of the whole check.
type clock struct {
	sec atomic.Int64 // Unix seconds; 0 until run has started
}

// run advances the clock until ctx ends.
func (c *clock) run(ctx context.Context) {
	c.sec.Store(time.Now().Unix())
	t := time.NewTicker(clockTick)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			c.sec.Store(now.Unix())
		case <-ctx.Done():
			return
		}
	}
}

// now is the current second, at most clockTick late; before run has
// started, the system clock.
func (c *clock) now() time.Time {
	if s := c.sec.Load(); s != 0 {
		return time.Unix(s, 0)
	}
	return time.Now()
}
