package awslatency

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// TestMain prints, under go test -short, one line of what was skipped and why.
func TestMain(m *testing.M) { os.Exit(needs.Main(m)) }

func TestParse(t *testing.T) {
	d, err := Parse("dynamodb=10ms, ssm=0,sts=1s")
	if err != nil {
		t.Fatal(err)
	}
	if d["dynamodb"] != 10*time.Millisecond || d["ssm"] != 0 || d["sts"] != time.Second || d["kms"] != Defaults["kms"] {
		t.Fatalf("Parse: %v", d)
	}
	if Defaults["dynamodb"] != 4*time.Millisecond {
		t.Fatal("Parse changed Defaults")
	}
	for _, bad := range []string{"dynamodb", "=1ms", "dynamodb=fast", "dynamodb=-1ms"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
}

// TestProxyForwardsAndCounts sends real SDK calls through the proxy to
// moto_server and checks they arrive and are attributed to their service.
func TestProxyForwardsAndCounts(t *testing.T) {
	needs.Tool(t, "moto_server")
	srv := motoserver.Shared(t)
	p, err := Start(srv.Endpoint, map[string]time.Duration{"dynamodb": time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg, err := p.Config()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := secretsmanager.NewFromConfig(cfg).ListSecrets(ctx, &secretsmanager.ListSecretsInput{}); err != nil {
		t.Fatal(err)
	}
	got := p.Calls()
	if got["dynamodb ListTables"] != 1 || got["secretsmanager ListSecrets"] != 1 || len(got) != 2 {
		t.Fatalf("calls: %s", Format(got))
	}
	if len(p.Calls()) != 0 {
		t.Fatal("Calls did not reset")
	}
}

func TestOnPath(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	over := func(start, end, o int) Overrun {
		return Overrun{Start: ms(start), End: ms(end), Over: time.Duration(o) * time.Millisecond}
	}
	rounds := []Overrun{
		over(10, 16, 2), // round 1: two concurrent calls, 2 and 3 ms late: 3 ms
		over(11, 18, 3),
		over(20, 25, 1), // round 2: 1 ms
		over(0, 5, 7),   // before since: not counted
	}
	if got, want := OnPath(rounds, ms(10)), 4*time.Millisecond; got != want {
		t.Errorf("OnPath = %v, want %v", got, want)
	}
	if got := OnPath(nil, t0); got != 0 {
		t.Errorf("OnPath(nil) = %v", got)
	}
}

func TestConcurrentDelay(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ms := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Millisecond))) }
	d := func(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }
	spans := []Overrun{
		{Start: ms(1), End: ms(13), Over: d(8)},  // DynamoDB: 4 ms + 8 over, beside the slow calls
		{Start: ms(1), End: ms(24), Over: d(3)},  // Secrets Manager: 20 ms + 3 over
		{Start: ms(2), End: ms(22)},              // SSM on time
		{Start: ms(30), End: ms(40), Over: d(6)}, // after the round
	}
	// The round would have ended at 22 (SSM); it ended at 24.
	if got, want := ConcurrentDelay(spans, t0, ms(25)), d(2); got != want {
		t.Errorf("ConcurrentDelay = %v, want %v", got, want)
	}
	// The short call's overrun alone delays nothing.
	if got := ConcurrentDelay(spans[:1:1], t0, ms(25)); got != d(8) {
		t.Errorf("one call: %v, want its overrun", got)
	}
	if got := ConcurrentDelay(append([]Overrun{}, spans[0], spans[2]), t0, ms(25)); got != 0 {
		t.Errorf("short overrun beside a longer call: %v, want 0", got)
	}
	if got := ConcurrentDelay(nil, t0, ms(25)); got != 0 {
		t.Errorf("no calls: %v", got)
	}
}
