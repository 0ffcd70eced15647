// Command publish uploads an HLS course (or the player page) into cfgate's
// bucket with the right Content-Type and Cache-Control. See
// internal/publish for the logic and `go run ./distribution/publish -h`.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/cfgate/cfgate/internal/publish"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return publish.Run(ctx, args, stdout, stderr)
}
