// Command distribution is the local distribution: `go run ./distribution` serves,
// on one machine, what the CloudFront distribution of template.yaml serves in AWS.
//
// It reads the distribution's cache behaviors from the template (their order, which
// are signed, which origin each uses), checks signed behaviors with the
// CloudFront-faithful verifier (distribution/verifier), answers /api/* through the
// same handler the login Lambda runs (as HTTP API v2 events, through the Lambda
// JSON path), and serves the S3 origins from a folder laid out like the bucket
// (by default the embedded demo media and the player page).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "distribution: %v\n", err)
		os.Exit(1)
	}
}
