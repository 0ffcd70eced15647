// Command admin is the operator CLI of cfgate's store: users, the course
// catalogue, grants and sessions, in the deployed DynamoDB table or in the
// embedded store file of the local distribution.
//
//	go run ./functions/login/admin --table cfgate-store users add ada@example.com
//	go run ./functions/login/admin --local cfgate-state/store.json grant ada@example.com intro-to-hls --for 720h
//
// Run it without arguments for the full usage.
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
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(exitCode(err))
	}
}
