// Command admin is the operator CLI of cfgate's store: users, the course
// catalogue, grants and sessions, in the deployed DynamoDB table or in the
// embedded store file of the local distribution.
//
//	go run ./functions/login/admin --table cfgate-store users add ada@example.com
//	go run ./functions/login/admin --local --state cfgate-state grant ada@example.com intro-to-hls --for 720h
//
// Run it without arguments for the full usage. The logic is in
// internal/admincli; this main only wires it to the process.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/cfgate/cfgate/internal/admincli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := admincli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, admincli.ErrUsage) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(admincli.ExitCode(err))
	}
}
