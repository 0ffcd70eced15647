package fakeclock

import (
	"context"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	c := New(t0)
	c.Add(time.Minute)
	if err := c.Sleep(context.Background(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Now(), t0.Add(time.Minute+2*time.Second); !got.Equal(want) {
		t.Errorf("Now = %v, want %v", got, want)
	}
	if got := c.Slept(); got != 2*time.Second {
		t.Errorf("Slept = %v, want 2s", got)
	}
	if got := c.Slept(); got != 0 {
		t.Errorf("Slept after reset = %v, want 0", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err == nil || !c.Now().Equal(t0.Add(time.Minute+2*time.Second)) {
		t.Errorf("Sleep on a done context = %v, clock %v; want an error and no move", err, c.Now())
	}
}
