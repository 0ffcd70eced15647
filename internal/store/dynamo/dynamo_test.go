package dynamo_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/dynamo"
	"github.com/cfgate/cfgate/internal/store/storetest"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

// newTable creates a fresh table on the shared moto_server.
func newTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	client := dynamodb.NewFromConfig(motoserver.Shared(t).Config(t))
	name := motoserver.Unique(t, "store")
	if err := dynamo.CreateTable(t.Context(), client, name); err != nil {
		t.Fatal(err)
	}
	return client, name
}

func TestConformanceMoto(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		client, name := newTable(t)
		return dynamo.New(client, name)
	})
}

func TestCreateTable(t *testing.T) {
	client, name := newTable(t)
	out, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: &name})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out.Table.BillingModeSummary.BillingMode), "PAY_PER_REQUEST"; got != want {
		t.Errorf("billing mode = %q, want %q", got, want)
	}
	if n := len(out.Table.GlobalSecondaryIndexes); n != 0 {
		t.Errorf("%d GSIs, want none", n)
	}
	ttl, err := client.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: &name})
	if err != nil {
		t.Fatal(err)
	}
	if got := *ttl.TimeToLiveDescription.AttributeName; got != dynamo.TTLAttribute || dynamo.TTLAttribute != "ttl" {
		t.Errorf("TTL attribute = %q, want ttl", got)
	}
	if err := dynamo.CreateTable(context.Background(), client, name); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateTable(existing) = %v, want ErrExists", err)
	}
}

// TestKeySchema reads the raw items back, so the documented key schema (and
// the ttl attribute DynamoDB's TTL deletes by) is what is written.
func TestKeySchema(t *testing.T) {
	client, name := newTable(t)
	st := dynamo.New(client, name)
	ctx := t.Context()
	exp := time.Date(2026, 5, 6, 7, 8, 9, 500_000_000, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateUser(ctx, store.User{Email: "ada@example.com", PasswordHash: "h"}))
	must(st.PutCourse(ctx, store.Course{ID: "intro", Title: "Intro"}))
	must(st.PutGrant(ctx, store.Grant{Email: "ada@example.com", CourseID: "intro", Expires: exp}))
	must(st.PutGrant(ctx, store.Grant{Email: "ada@example.com", CourseID: "forever"}))
	must(st.CreateSession(ctx, store.Session{IDHash: "abc", Email: "ada@example.com", CreatedAt: exp.Add(-time.Hour), Expires: exp}))
	_, err := st.RecordFailure(ctx, "ada@example.com", exp, time.Minute)
	must(err)

	ttlExp := strconv.FormatInt(exp.Unix()+1, 10) // rounded up
	tests := []struct {
		pk, sk string
		want   map[string]string // attribute → value (S, N or BOOL as text); "" = must be absent
	}{
		{"USER#ada@example.com", "PROFILE", map[string]string{"email": "ada@example.com", "hash": "h", "disabled": "false", "ttl": ""}},
		{"COURSE#intro", "COURSE", map[string]string{"id": "intro", "title": "Intro"}},
		{"CATALOGUE", "COURSE#intro", map[string]string{"id": "intro", "title": "Intro"}},
		{"USER#ada@example.com", "GRANT#intro", map[string]string{"course": "intro", "expires": strconv.FormatInt(exp.UnixMilli(), 10), "ttl": ttlExp}},
		{"USER#ada@example.com", "GRANT#forever", map[string]string{"course": "forever", "expires": "", "ttl": ""}},
		{"SESSION#abc", "SESSION", map[string]string{"email": "ada@example.com", "ttl": ttlExp}},
		{"USER#ada@example.com", "SESSION#abc", map[string]string{"ttl": ttlExp}},
		{"USER#ada@example.com", "FAILURES", map[string]string{"count": "1", "wstart": strconv.FormatInt(exp.UnixMilli(), 10), "wend": strconv.FormatInt(exp.Add(time.Minute).UnixMilli(), 10)}},
	}
	for _, tt := range tests {
		t.Run(tt.pk+"/"+tt.sk, func(t *testing.T) {
			out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &name, Key: map[string]types.AttributeValue{
				"PK": &types.AttributeValueMemberS{Value: tt.pk}, "SK": &types.AttributeValueMemberS{Value: tt.sk},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if out.Item == nil {
				t.Fatal("no such item")
			}
			for attr, want := range tt.want {
				var got string
				switch v := out.Item[attr].(type) {
				case *types.AttributeValueMemberS:
					got = v.Value
				case *types.AttributeValueMemberN:
					got = v.Value
				case *types.AttributeValueMemberBOOL:
					got = strconv.FormatBool(v.Value)
				case nil:
				default:
					t.Fatalf("%s has type %T", attr, v)
				}
				if got != want {
					t.Errorf("%s = %q, want %q", attr, got, want)
				}
			}
		})
	}
}

// TestUserGrantSentNeedsAConnection: a read that never had a connection to
// write its request on (nothing listens on the endpoint) never calls the
// OnSent function. (A write that fails: TestSentTraceIgnoresFailedWrites.)
func TestUserGrantSentNeedsAConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	client := dynamodb.NewFromConfig(motoserver.Shared(t).Config(t), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String("http://" + addr)
		o.RetryMaxAttempts = 1
	})
	n := 0
	_, _, _, err = dynamo.New(client, "no-table").GetUserGrant(store.OnSent(t.Context(), func() { n++ }), "ada@example.com", "intro")
	if err == nil {
		t.Fatal("GetUserGrant with nothing listening: no error")
	}
	if n != 0 {
		t.Errorf("OnSent's function called %d times for a request never written, want 0", n)
	}
}
