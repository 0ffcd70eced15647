package materials

import (
	"os"
	"testing"

	"github.com/cfgate/cfgate/internal/testutil/needs"
)

func TestMain(m *testing.M) { os.Exit(needs.Main(m)) }
