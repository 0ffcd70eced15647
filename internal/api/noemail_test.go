package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/dynamo"
)

// throttledDynamo answers every DynamoDB call as a throttled table does. It
// stands in for DynamoDB only to produce the store's genuine error texts.
type throttledDynamo struct{}

func throttled() error {
	return &types.ProvisionedThroughputExceededException{Message: aws.String("The level of configured provisioned throughput for the table was exceeded.")}
}

func (throttledDynamo) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, throttled()
}
func (throttledDynamo) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, throttled()
}
func (throttledDynamo) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, throttled()
}
func (throttledDynamo) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, throttled()
}
func (throttledDynamo) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, throttled()
}
func (throttledDynamo) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return nil, throttled()
}
func (throttledDynamo) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return nil, throttled()
}

// failOne is a working store in which one operation (by method name) fails
// with the DynamoDB store's own error for a throttled table.
type failOne struct {
	store.Store
	op      string
	failing store.Store
}

func (f failOne) pick(op string) store.Store {
	if f.op == op {
		return f.failing
	}
	return f.Store
}
func (f failOne) GetUser(ctx context.Context, e string) (store.User, error) {
	return f.pick("GetUser").GetUser(ctx, e)
}
func (f failOne) GetCourse(ctx context.Context, id string) (store.Course, error) {
	return f.pick("GetCourse").GetCourse(ctx, id)
}
func (f failOne) ListCourses(ctx context.Context) ([]store.Course, error) {
	return f.pick("ListCourses").ListCourses(ctx)
}
func (f failOne) GetGrant(ctx context.Context, e, c string) (store.Grant, error) {
	return f.pick("GetGrant").GetGrant(ctx, e, c)
}
func (f failOne) ListGrants(ctx context.Context, e string) ([]store.Grant, error) {
	return f.pick("ListGrants").ListGrants(ctx, e)
}
func (f failOne) CreateSession(ctx context.Context, s store.Session) error {
	return f.pick("CreateSession").CreateSession(ctx, s)
}
func (f failOne) GetSession(ctx context.Context, id string) (store.Session, error) {
	return f.pick("GetSession").GetSession(ctx, id)
}
func (f failOne) DeleteSession(ctx context.Context, id string) error {
	return f.pick("DeleteSession").DeleteSession(ctx, id)
}
func (f failOne) RecordFailure(ctx context.Context, e string, now time.Time, w time.Duration) (int, error) {
	return f.pick("RecordFailure").RecordFailure(ctx, e, now, w)
}
func (f failOne) ResetFailures(ctx context.Context, e string) error {
	return f.pick("ResetFailures").ResetFailures(ctx, e)
}
func (f failOne) RecordSourceFailure(ctx context.Context, e, src string, now time.Time, w time.Duration) (int, error) {
	return f.pick("RecordSourceFailure").RecordSourceFailure(ctx, e, src, now, w)
}
func (f failOne) ResetSourceFailures(ctx context.Context, e, src string) error {
	return f.pick("ResetSourceFailures").ResetSourceFailures(ctx, e, src)
}
func (f failOne) ForgiveFailure(ctx context.Context, e string, now time.Time) error {
	return f.pick("ForgiveFailure").ForgiveFailure(ctx, e, now)
}

// TestNoEmailInLogsOrErrors drives every store failure of login, access,
// session and logout and checks that the raw email appears in no log line,
// metric or error answer: logs and metrics name an account by its
// pseudonymous hash (store.UserHash) only.
func TestNoEmailInLogsOrErrors(t *testing.T) {
	ops := []string{"GetUser", "GetCourse", "ListCourses", "GetGrant", "ListGrants", "CreateSession",
		"GetSession", "DeleteSession", "RecordFailure", "ResetFailures", "RecordSourceFailure", "ResetSourceFailures", "ForgiveFailure"}
	genuine := dynamo.New(throttledDynamo{}, "cfgate-test")
	// The store's own error texts first: every method, one email.
	ctx := context.Background()
	errs := []error{}
	_, err := genuine.GetUser(ctx, alice)
	errs = append(errs, err, genuine.CreateUser(ctx, store.User{Email: alice, PasswordHash: "x"}), genuine.PutUser(ctx, store.User{Email: alice, PasswordHash: "x"}))
	_, err = genuine.GetGrant(ctx, alice, courseIntro)
	errs = append(errs, err, genuine.PutGrant(ctx, store.Grant{Email: alice, CourseID: courseIntro}), genuine.DeleteGrant(ctx, alice, courseIntro))
	_, err = genuine.ListGrants(ctx, alice)
	errs = append(errs, err, genuine.CreateSession(ctx, store.Session{IDHash: strings.Repeat("a", 64), Email: alice, CreatedAt: t0, Expires: t0.Add(time.Hour)}))
	_, err = genuine.DeleteUserSessions(ctx, alice)
	errs = append(errs, err)
	_, err = genuine.RecordFailure(ctx, alice, t0, time.Minute)
	errs = append(errs, err)
	_, err = genuine.Failures(ctx, alice, t0)
	errs = append(errs, err, genuine.ResetFailures(ctx, alice))
	_, err = genuine.RecordSourceFailure(ctx, alice, "127.0.0.2", t0, time.Minute)
	errs = append(errs, err)
	_, err = genuine.SourceFailures(ctx, alice, "127.0.0.2", t0)
	errs = append(errs, err, genuine.ResetSourceFailures(ctx, alice, "127.0.0.2"), genuine.ForgiveFailure(ctx, alice, t0))
	for i, err := range errs {
		if err == nil {
			t.Fatalf("store call %d against a throttled table succeeded", i)
		}
		if strings.Contains(err.Error(), "@") {
			t.Errorf("store error carries an email: %v", err)
		}
	}

	for _, op := range ops {
		t.Run(op, func(t *testing.T) {
			e := newEnv(t, withStore(func(s store.Store) store.Store { return failOne{Store: s, op: op, failing: genuine} }))
			var answers strings.Builder
			record := func(resp *http.Response) *http.Response {
				if resp.StatusCode >= 400 {
					answers.WriteString(readBody(t, resp))
				}
				return resp
			}
			// Login: wrong password, right password.
			record(e.do(req("POST", "/api/login", loginBodyJSON(alice, "wrong password"))))
			resp := record(e.do(req("POST", "/api/login", loginBodyJSON(alice, alicePW))))
			token := ""
			if c := findCookie(resp, SessionCookie); c != nil {
				token = c.Value
			} else {
				// The failing op is on the login path: make a session without it.
				ok := newEnv(t)
				token = ok.login(t, alice, alicePW)
				sess, err := ok.st.GetSession(ctx, hashToken(token))
				if err != nil {
					t.Fatal(err)
				}
				if err := e.st.(failOne).Store.CreateSession(ctx, sess); err != nil {
					t.Fatal(err)
				}
			}
			record(e.do(withSession(req("POST", "/api/courses/"+courseIntro+"/access", ""), token)))
			record(e.do(withSession(req("GET", "/api/session", ""), token)))
			record(e.do(withSession(req("POST", "/api/logout", ""), token)))
			all := e.logs.String() + e.metrics.String() + answers.String()
			if strings.Contains(all, alice) || strings.Contains(all, "alice@") {
				t.Errorf("with %s failing, the email appears in what was written:\n%s", op, all)
			}
			if !strings.Contains(e.logs.String(), userHash(alice)) {
				t.Errorf("with %s failing, no log line names the account by its hash", op)
			}
		})
	}
}
