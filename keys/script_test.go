package main

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// TestMain lets the scripts run the real main as the command "keys".
func TestMain(m *testing.M) {
	testscript.Main(needsM{m}, map[string]func(){"keys": main})
}

// needsM runs the tests through needs.Main (the -short summary line).
type needsM struct{ m *testing.M }

func (n needsM) Run() int { return needs.Main(n.m) }

var scriptN atomic.Int64

// TestScripts runs testdata/script/*.txtar: the compiled command, its exit
// status, the "keys:" error prefix, and stdout/stderr, against a local state
// folder and the extended moto server (AWS_ENDPOINT_URL).
func TestScripts(t *testing.T) {
	needs.Tool(t, "moto_server")
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			s, err := cfmoto.Get()
			if err != nil {
				return err
			}
			env.Vars = append(env.Vars, s.Env()...)
			n := scriptN.Add(1)
			env.Setenv("SECRET", fmt.Sprintf("script-secret-%d-%d", os.Getpid(), n))
			env.Setenv("GROUP", fmt.Sprintf("script-group-%d-%d", os.Getpid(), n))
			return nil
		},
	})
}
