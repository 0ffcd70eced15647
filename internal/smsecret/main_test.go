package smsecret

import (
	"os"
	"testing"

	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// TestMain prints, under go test -short, one line of what was skipped and why.
func TestMain(m *testing.M) { os.Exit(needs.Main(m)) }
