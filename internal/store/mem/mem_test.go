package mem_test

import (
	"testing"

	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/mem"
	"github.com/cfgate/cfgate/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return mem.New() })
}

func TestConformanceFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := mem.Open(t.TempDir() + "/store.json")
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}
