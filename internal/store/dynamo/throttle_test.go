package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/cfgate/cfgate/internal/store"
)

// fakeDynamo is a fake DynamoAPI (throttling cannot be provoked on
// moto_server): every method returns the error made by fail for its
// operation name.
type fakeDynamo func(op string) error

func (f fakeDynamo) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, f("GetItem")
}

func (f fakeDynamo) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, f("PutItem")
}

func (f fakeDynamo) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, f("DeleteItem")
}

func (f fakeDynamo) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, f("UpdateItem")
}

func (f fakeDynamo) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, f("Query")
}

func (f fakeDynamo) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return nil, f("BatchGetItem")
}

func (f fakeDynamo) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return nil, f("TransactWriteItems")
}

// calls runs every Store method once and returns their errors by name.
func calls(st *Store) map[string]error {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	errs := map[string]error{}
	_, errs["GetUser"] = st.GetUser(ctx, "a@b.c")
	errs["CreateUser"] = st.CreateUser(ctx, store.User{Email: "a@b.c"})
	errs["PutUser"] = st.PutUser(ctx, store.User{Email: "a@b.c"})
	_, errs["GetCourse"] = st.GetCourse(ctx, "c")
	errs["PutCourse"] = st.PutCourse(ctx, store.Course{ID: "c"})
	_, errs["ListCourses"] = st.ListCourses(ctx)
	_, errs["GetGrant"] = st.GetGrant(ctx, "a@b.c", "c")
	_, _, _, errs["GetUserGrant"] = st.GetUserGrant(ctx, "a@b.c", "c")
	_, errs["GetSessionGrant"] = st.GetSessionGrant(ctx, "h", "a@b.c", "c")
	errs["PutGrant"] = st.PutGrant(ctx, store.Grant{Email: "a@b.c", CourseID: "c"})
	errs["DeleteGrant"] = st.DeleteGrant(ctx, "a@b.c", "c")
	_, errs["ListGrants"] = st.ListGrants(ctx, "a@b.c")
	errs["CreateSession"] = st.CreateSession(ctx, store.Session{IDHash: "h", Email: "a@b.c"})
	_, errs["GetSession"] = st.GetSession(ctx, "h")
	errs["DeleteSession"] = st.DeleteSession(ctx, "h")
	_, errs["DeleteUserSessions"] = st.DeleteUserSessions(ctx, "a@b.c")
	_, errs["RecordFailure"] = st.RecordFailure(ctx, "a@b.c", now, time.Minute)
	_, errs["Failures"] = st.Failures(ctx, "a@b.c", now)
	errs["ResetFailures"] = st.ResetFailures(ctx, "a@b.c")
	return errs
}

func TestThrottlingMapsToErrThrottled(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		throttled bool
	}{
		{"ProvisionedThroughputExceeded", &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}, true},
		{"RequestLimitExceeded", &types.RequestLimitExceeded{Message: aws.String("slow down")}, true},
		{"ThrottlingException", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate of requests exceeds the allowed throughput."}, true},
		{"after SDK retries", &retry.MaxAttemptsError{Attempt: 3, Err: &types.ProvisionedThroughputExceededException{}}, true},
		{"transaction cancelled by throttling", &types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{
			{Code: aws.String("None")}, {Code: aws.String("ThrottlingError")},
		}}, true},
		{"transaction conflict", &types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{
			{Code: aws.String("TransactionConflict")},
		}}, false},
		{"resource not found", &types.ResourceNotFoundException{Message: aws.String("no table")}, false},
		{"network", errors.New("dial tcp: connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := New(fakeDynamo(func(string) error { return tt.err }), "t")
			for method, err := range calls(st) {
				if err == nil {
					t.Errorf("%s: no error", method)
					continue
				}
				if got := errors.Is(err, store.ErrThrottled); got != tt.throttled {
					t.Errorf("%s: errors.Is(%v, ErrThrottled) = %v, want %v", method, err, got, tt.throttled)
				}
				if !errors.Is(err, tt.err) {
					t.Errorf("%s: error %v does not wrap the SDK error", method, err)
				}
				if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) {
					t.Errorf("%s: error %v claims not-found/exists", method, err)
				}
			}
		})
	}
}

// TestThrottlingThroughSDK sends the real client to a fake DynamoDB
// endpoint (an httptest server answering every call with a throttling error
// body, as DynamoDB's JSON protocol does), so the mapping is checked on
// errors as the SDK's deserializers build them.
func TestThrottlingThroughSDK(t *testing.T) {
	for _, code := range []string{"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"} {
		t.Run(code, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.Header().Set("X-Amzn-Errortype", code)
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"slow down"}`, code)
			}))
			defer srv.Close()
			client := dynamodb.New(dynamodb.Options{
				Region:           "us-east-1",
				BaseEndpoint:     aws.String(srv.URL),
				Credentials:      credentials.NewStaticCredentialsProvider("k", "s", ""),
				RetryMaxAttempts: 1,
			})
			st := New(client, "t")
			_, err := st.GetUser(t.Context(), "a@b.c")
			if !errors.Is(err, store.ErrThrottled) {
				t.Errorf("GetUser error = %v, want ErrThrottled", err)
			}
			_, err = st.RecordFailure(t.Context(), "a@b.c", time.Now(), time.Minute)
			if !errors.Is(err, store.ErrThrottled) {
				t.Errorf("RecordFailure error = %v, want ErrThrottled", err)
			}
		})
	}
}

// unprocessedDynamo is a fake DynamoAPI (DynamoDB returns unprocessed keys
// under throttling, which moto_server never does) whose BatchGetItem leaves
// every key unprocessed for its first `fails` calls, then answers with the
// user's profile only.
type unprocessedDynamo struct {
	fakeDynamo
	fails, calls int
}

func (u *unprocessedDynamo) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	u.calls++
	if u.calls <= u.fails {
		return &dynamodb.BatchGetItemOutput{UnprocessedKeys: in.RequestItems}, nil
	}
	return &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{
		"t": {item(pkUser+"a@b.c", skProfile, map[string]types.AttributeValue{attrEmail: s("a@b.c")})},
	}}, nil
}

func TestGetUserGrantUnprocessedKeys(t *testing.T) {
	// Retried until processed.
	f := &unprocessedDynamo{fails: maxBatchAttempts - 1}
	u, _, granted, err := New(f, "t").GetUserGrant(t.Context(), "a@b.c", "c")
	if err != nil || u.Email != "a@b.c" || granted || f.calls != maxBatchAttempts {
		t.Fatalf("GetUserGrant = %+v, %v, %v after %d calls", u, granted, err, f.calls)
	}
	// Never processed: throttled, not "not found".
	f = &unprocessedDynamo{fails: maxBatchAttempts}
	_, _, _, err = New(f, "t").GetUserGrant(t.Context(), "a@b.c", "c")
	if !errors.Is(err, store.ErrThrottled) || errors.Is(err, store.ErrNotFound) || f.calls != maxBatchAttempts {
		t.Fatalf("GetUserGrant error = %v after %d calls, want ErrThrottled after %d", err, f.calls, maxBatchAttempts)
	}
}

// oneKeyDynamo is a fake DynamoAPI whose BatchGetItem processes one key per
// call (leaving the others unprocessed, as DynamoDB may under throttling)
// and answers it from items.
type oneKeyDynamo struct {
	fakeDynamo
	items []map[string]types.AttributeValue
	calls int
}

func (o *oneKeyDynamo) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	o.calls++
	ka := in.RequestItems["t"]
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}}
	first := ka.Keys[0]
	for _, it := range o.items {
		if getS(it, attrPK) == getS(first, attrPK) && getS(it, attrSK) == getS(first, attrSK) {
			out.Responses["t"] = append(out.Responses["t"], it)
		}
	}
	if len(ka.Keys) > 1 {
		rest := ka
		rest.Keys = ka.Keys[1:]
		out.UnprocessedKeys = map[string]types.KeysAndAttributes{"t": rest}
	}
	return out, nil
}

// TestGetSessionGrantUnprocessedKeys: what each call processes is kept
// across the retries, and keys never processed are throttling.
func TestGetSessionGrantUnprocessedKeys(t *testing.T) {
	items := []map[string]types.AttributeValue{
		item(pkSession+"h", skSessionIt, map[string]types.AttributeValue{attrEmail: s("a@b.c")}),
		item(pkUser+"a@b.c", skProfile, map[string]types.AttributeValue{attrEmail: s("a@b.c")}),
		item(pkUser+"a@b.c", skGrant+"c", map[string]types.AttributeValue{attrEmail: s("a@b.c"), attrCourse: s("c")}),
	}
	f := &oneKeyDynamo{items: items}
	r, err := New(f, "t").GetSessionGrant(t.Context(), "h", "a@b.c", "c")
	if err != nil || !r.SessionFound || !r.Matched || !r.UserFound || !r.Granted || r.Grant.CourseID != "c" || f.calls != 3 {
		t.Fatalf("GetSessionGrant = %+v, %v after %d calls; want all three items after 3", r, err, f.calls)
	}
	u := &unprocessedDynamo{fails: maxBatchAttempts}
	_, err = New(u, "t").GetSessionGrant(t.Context(), "h", "a@b.c", "c")
	if !errors.Is(err, store.ErrThrottled) || u.calls != maxBatchAttempts {
		t.Fatalf("GetSessionGrant error = %v after %d calls, want ErrThrottled after %d", err, u.calls, maxBatchAttempts)
	}
}
