// Package fakeclock is a settable clock for tests: code under test takes a
// Now func (and, for waits, a Sleep func) and the test moves time by hand.
package fakeclock

import (
	"context"
	"sync"
	"time"
)

// Clock is a goroutine-safe settable time source.
type Clock struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
}

// New returns a clock reading t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Sleep stands in for a timer: it moves the clock by d at once (unless ctx
// is done) and remembers how long it "slept".
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.slept += d
	return nil
}

// Slept returns the total that Sleep moved the clock since the last call.
func (c *Clock) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.slept
	c.slept = 0
	return d
}
