// Command keys manages cfgate's CloudFront signing keys: init, rotation,
// status, and explain (why CloudFront answers 403). See usage below and
// keys/RUNBOOK.md. The logic lives in internal/keyops.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	var exit exitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		os.Exit(exit.code)
	default:
		fmt.Fprintln(os.Stderr, "keys:", err)
		os.Exit(1)
	}
}
