// Package dynamo implements store.Store on one DynamoDB table (single-table
// design) through aws-sdk-go-v2, behind one-method interfaces whose
// signatures copy *dynamodb.Client's.
//
// # Key schema
//
// The table has a string partition key PK and a string sort key SK, no
// secondary index, on-demand billing, and TTL on the attribute "ttl" (epoch
// seconds). Times are stored as epoch milliseconds (N).
//
//	PK               SK               attributes                       record
//	USER#<email>     PROFILE          email, hash, disabled, created   store.User
//	USER#<email>     GRANT#<course>   email, course, expires?, ttl?    store.Grant
//	USER#<email>     SESSION#<hash>   created, expires, ua?, seen?, ttl   the user's sessions (ListUserSessions)
//	USER#<email>     FAILURES         count, wstart, wend, ttl         account-wide failed-login window
//	USER#<email>     FAILURES#<src>   count, wstart, wend, ttl         failed-login window of one source
//	COURSE#<id>      COURSE           id, title                        store.Course (GetCourse)
//	CATALOGUE        COURSE#<id>      id, title                        catalogue listing (ListCourses)
//	SESSION#<hash>   SESSION          email, created, expires, ua?,    store.Session (GetSession)
//	                                  seen?, ttl
//
// Access patterns: every read is a consistent GetItem, BatchGetItem or Query,
// never a Scan. GetUserGrant reads the PROFILE and GRANT#<course> items of a
// user in one BatchGetItem; GetSessionGrant adds the SESSION#<hash> item to
// the same BatchGetItem.
// ListGrants is a Query on PK=USER#<email>, SK begins_with GRANT#, so it comes
// back sorted by course id; ListCourses is a Query on PK=CATALOGUE.
// PutCourse writes the course and its catalogue entry in one transaction.
// CreateSession writes the user's SESSION# index item, then the session
// (conditional on its absence); DeleteUserSessions queries the index items
// and deletes each session conditional on its email, so a stray index item
// can never delete another user's session. The index items carry a copy of
// the session's fields, so ListUserSessions is one Query on the user's
// partition; TouchSession updates both copies in one transaction. Sessions, grants with an expiry
// and failure windows carry ttl, so DynamoDB removes them some time after
// they expire; until then they are returned as stored (see store.Store).
//
// RecordFailure (and RecordSourceFailure) is two conditional UpdateItems and
// no read: ADD count if
// the window is still current (wend > now), else start a new window with
// count 1 if there is none or it has passed; if both conditions fail another
// caller has just reset the window, and the first update is retried. N
// concurrent failures are counted exactly N times. ForgiveFailure is one
// UpdateItem, ADD -1 on condition that the window is current and the count
// positive. ResetFailures queries SK begins_with FAILURES and deletes each.
//
// Throttling errors (ProvisionedThroughputExceededException,
// ThrottlingException, RequestLimitExceeded, and transactions cancelled for
// throttling) are returned wrapping store.ErrThrottled, after the SDK's own
// retries.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/cfgate/cfgate/internal/store"
)

// GetItemAPI is the GetItem method of *dynamodb.Client.
type GetItemAPI interface {
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// PutItemAPI is the PutItem method of *dynamodb.Client.
type PutItemAPI interface {
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// DeleteItemAPI is the DeleteItem method of *dynamodb.Client.
type DeleteItemAPI interface {
	DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// UpdateItemAPI is the UpdateItem method of *dynamodb.Client.
type UpdateItemAPI interface {
	UpdateItem(ctx context.Context, params *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// QueryAPI is the Query method of *dynamodb.Client.
type QueryAPI interface {
	Query(ctx context.Context, params *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// BatchGetItemAPI is the BatchGetItem method of *dynamodb.Client.
type BatchGetItemAPI interface {
	BatchGetItem(ctx context.Context, params *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// TransactWriteItemsAPI is the TransactWriteItems method of *dynamodb.Client.
type TransactWriteItemsAPI interface {
	TransactWriteItems(ctx context.Context, params *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// DynamoAPI is the part of *dynamodb.Client the store uses.
type DynamoAPI interface {
	GetItemAPI
	PutItemAPI
	DeleteItemAPI
	UpdateItemAPI
	QueryAPI
	BatchGetItemAPI
	TransactWriteItemsAPI
}

var _ DynamoAPI = (*dynamodb.Client)(nil)

// Store is a store.Store on one DynamoDB table.
type Store struct {
	db    DynamoAPI
	table *string
}

var _ store.Store = (*Store)(nil)

// New returns a store on the named table (see CreateTable for its schema).
func New(client DynamoAPI, table string) *Store {
	return &Store{db: client, table: aws.String(table)}
}

// Attribute names.
const (
	attrPK       = "PK"
	attrSK       = "SK"
	attrTTL      = "ttl"
	attrEmail    = "email"
	attrHash     = "hash"
	attrDisabled = "disabled"
	attrCreated  = "created"
	attrCourse   = "course"
	attrExpires  = "expires"
	attrID       = "id"
	attrTitle    = "title"
	attrCount    = "count"
	attrWStart   = "wstart"
	attrWEnd     = "wend"
	attrUA       = "ua"
	attrSeen     = "seen"
)

// Key parts.
const (
	pkUser      = "USER#"
	pkCourse    = "COURSE#"
	pkSession   = "SESSION#"
	pkCatalogue = "CATALOGUE"
	skProfile   = "PROFILE"
	skGrant     = "GRANT#"
	skSession   = "SESSION#"
	skFailures  = "FAILURES"
	// skSourceFailures + source: the per-source counter (its prefix is
	// skFailures, so one Query finds every counter of a user).
	skSourceFailures = "FAILURES#"
	skCourse         = "COURSE"
	skCatEntry       = "COURSE#"
	skSessionIt      = "SESSION"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: s(pk), attrSK: s(sk)}
}

// item returns the key plus attributes.
func item(pk, sk string, attrs map[string]types.AttributeValue) map[string]types.AttributeValue {
	m := key(pk, sk)
	for k, v := range attrs {
		m[k] = v
	}
	return m
}

// setTime stores a time as epoch milliseconds; the zero time is left absent.
func setTime(m map[string]types.AttributeValue, name string, t time.Time) {
	if !t.IsZero() {
		m[name] = n(t.UnixMilli())
	}
}

// ttlOf is the DynamoDB TTL value for an expiry: epoch seconds, rounded up
// so an item is never removed before it expires.
func ttlOf(t time.Time) types.AttributeValue {
	sec := t.Unix()
	if t.UnixMilli()%1000 != 0 {
		sec++
	}
	return n(sec)
}

func getS(m map[string]types.AttributeValue, name string) string {
	if v, ok := m[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(m map[string]types.AttributeValue, name string) (int64, bool) {
	v, ok := m[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(v.Value, 10, 64)
	return i, err == nil
}

func getTime(m map[string]types.AttributeValue, name string) time.Time {
	if i, ok := getN(m, name); ok {
		return time.UnixMilli(i).UTC()
	}
	return time.Time{}
}

func getBool(m map[string]types.AttributeValue, name string) bool {
	v, ok := m[name].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

// throttleCodes are the error codes DynamoDB uses for capacity refusals.
var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"RequestLimitExceeded":                   true,
	// Cancellation reason codes inside a TransactionCanceledException.
	"ThrottlingError":               true,
	"ProvisionedThroughputExceeded": true,
}

// wrapErr adds context to err and maps throttling to store.ErrThrottled.
func wrapErr(op string, err error) error {
	if isThrottle(err) {
		return fmt.Errorf("%s: %w: %w", op, store.ErrThrottled, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isThrottle(err error) bool {
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for _, r := range tce.CancellationReasons {
			if r.Code != nil && throttleCodes[*r.Code] {
				return true
			}
		}
		return false
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && throttleCodes[ae.ErrorCode()]
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// get reads one item consistently; nil if absent.
func (st *Store) get(ctx context.Context, pk, sk string) (map[string]types.AttributeValue, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      st.table,
		Key:            key(pk, sk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// query returns every item of a partition whose sort key starts with prefix,
// in sort key order, following pagination.
func (st *Store) query(ctx context.Context, pk, skPrefix string) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName:              st.table,
		KeyConditionExpression: aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": attrPK, "#sk": attrSK,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": s(pk), ":prefix": s(skPrefix),
		},
		ConsistentRead: aws.Bool(true),
	}
	var items []map[string]types.AttributeValue
	for {
		out, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Users.

func userItem(u store.User) map[string]types.AttributeValue {
	m := item(pkUser+u.Email, skProfile, map[string]types.AttributeValue{
		attrEmail:    s(u.Email),
		attrHash:     s(u.PasswordHash),
		attrDisabled: &types.AttributeValueMemberBOOL{Value: u.Disabled},
	})
	setTime(m, attrCreated, u.CreatedAt)
	return m
}

// GetUser implements store.Store.
func (st *Store) GetUser(ctx context.Context, email string) (store.User, error) {
	it, err := st.get(ctx, pkUser+email, skProfile)
	if err != nil {
		return store.User{}, wrapErr(fmt.Sprintf("get %s", store.UserRef(email)), err)
	}
	if it == nil {
		return store.User{}, fmt.Errorf("get %s: %w", store.UserRef(email), store.ErrNotFound)
	}
	return userFrom(it), nil
}

// CreateUser implements store.Store.
func (st *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := store.NeedKey("email", u.Email); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	_, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                st.table,
		Item:                     userItem(u),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("create %s: %w", store.UserRef(u.Email), store.ErrExists)
	}
	if err != nil {
		return wrapErr(fmt.Sprintf("create %s", store.UserRef(u.Email)), err)
	}
	return nil
}

// PutUser implements store.Store.
func (st *Store) PutUser(ctx context.Context, u store.User) error {
	if err := store.NeedKey("email", u.Email); err != nil {
		return fmt.Errorf("put user: %w", err)
	}
	if _, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: st.table, Item: userItem(u)}); err != nil {
		return wrapErr(fmt.Sprintf("put %s", store.UserRef(u.Email)), err)
	}
	return nil
}

// ReplacePasswordHash implements store.Store: one conditional UpdateItem.
func (st *Store) ReplacePasswordHash(ctx context.Context, email, oldHash, newHash string) error {
	if err := store.NeedKey("email", email); err != nil {
		return fmt.Errorf("replace password hash: %w", err)
	}
	if newHash == "" {
		return errors.New("replace password hash: empty hash")
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 st.table,
		Key:                       key(pkUser+email, skProfile),
		UpdateExpression:          aws.String("SET #hash = :new"),
		ConditionExpression:       aws.String("#hash = :old"),
		ExpressionAttributeNames:  map[string]string{"#hash": attrHash},
		ExpressionAttributeValues: map[string]types.AttributeValue{":old": s(oldHash), ":new": s(newHash)},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("replace password hash of %s: %w", store.UserRef(email), store.ErrNotFound)
	}
	if err != nil {
		return wrapErr(fmt.Sprintf("replace password hash of %s", store.UserRef(email)), err)
	}
	return nil
}

// Catalogue.

func courseFrom(it map[string]types.AttributeValue) store.Course {
	return store.Course{ID: getS(it, attrID), Title: getS(it, attrTitle)}
}

// GetCourse implements store.Store.
func (st *Store) GetCourse(ctx context.Context, id string) (store.Course, error) {
	it, err := st.get(ctx, pkCourse+id, skCourse)
	if err != nil {
		return store.Course{}, wrapErr(fmt.Sprintf("get course %q", id), err)
	}
	if it == nil {
		return store.Course{}, fmt.Errorf("get course %q: %w", id, store.ErrNotFound)
	}
	return courseFrom(it), nil
}

// PutCourse implements store.Store.
func (st *Store) PutCourse(ctx context.Context, c store.Course) error {
	if err := store.NeedKey("course id", c.ID); err != nil {
		return fmt.Errorf("put course: %w", err)
	}
	attrs := map[string]types.AttributeValue{attrID: s(c.ID), attrTitle: s(c.Title)}
	_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: st.table, Item: item(pkCourse+c.ID, skCourse, attrs)}},
			{Put: &types.Put{TableName: st.table, Item: item(pkCatalogue, skCatEntry+c.ID, attrs)}},
		},
	})
	if err != nil {
		return wrapErr(fmt.Sprintf("put course %q", c.ID), err)
	}
	return nil
}

// ListCourses implements store.Store.
func (st *Store) ListCourses(ctx context.Context) ([]store.Course, error) {
	items, err := st.query(ctx, pkCatalogue, skCatEntry)
	if err != nil {
		return nil, wrapErr("list courses", err)
	}
	out := make([]store.Course, 0, len(items))
	for _, it := range items {
		out = append(out, courseFrom(it))
	}
	return out, nil
}

// Grants.

func grantFrom(it map[string]types.AttributeValue) store.Grant {
	return store.Grant{
		Email:    getS(it, attrEmail),
		CourseID: getS(it, attrCourse),
		Expires:  getTime(it, attrExpires),
	}
}

// GetGrant implements store.Store.
func (st *Store) GetGrant(ctx context.Context, email, courseID string) (store.Grant, error) {
	op := fmt.Sprintf("get grant %s → %q", store.UserRef(email), courseID)
	it, err := st.get(ctx, pkUser+email, skGrant+courseID)
	if err != nil {
		return store.Grant{}, wrapErr(op, err)
	}
	if it == nil {
		return store.Grant{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return grantFrom(it), nil
}

// maxBatchAttempts bounds the BatchGetItem calls of one batchGet while
// DynamoDB returns keys unprocessed (which it does under throttling).
const maxBatchAttempts = 4

// GetUserGrant implements store.Store: one consistent BatchGetItem of the
// user's PROFILE and GRANT#<course> items (2 RCU for items up to 4 KB).
func (st *Store) GetUserGrant(ctx context.Context, email, courseID string) (store.User, store.Grant, bool, error) {
	op := fmt.Sprintf("get %s and grant → %q", store.UserRef(email), courseID)
	if err := errors.Join(store.NeedKey("email", email), store.NeedKey("course id", courseID)); err != nil {
		return store.User{}, store.Grant{}, false, fmt.Errorf("%s: %w", op, err)
	}
	pk := pkUser + email
	got, err := st.batchGet(ctx, op, key(pk, skProfile), key(pk, skGrant+courseID))
	if err != nil {
		return store.User{}, store.Grant{}, false, err
	}
	profile, grant := got[0], got[1]
	if profile == nil {
		return store.User{}, store.Grant{}, false, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if grant == nil {
		return userFrom(profile), store.Grant{}, false, nil
	}
	return userFrom(profile), grantFrom(grant), true, nil
}

// GetSessionGrant implements store.Store: one consistent BatchGetItem of the
// session's item and the user's PROFILE and GRANT#<course> items (3 RCU for
// items up to 4 KB, as GetSession and GetUserGrant in a row).
func (st *Store) GetSessionGrant(ctx context.Context, idHash, email, courseID string) (store.SessionGrant, error) {
	var r store.SessionGrant
	op := fmt.Sprintf("get session, %s and grant → %q", store.UserRef(email), courseID)
	if err := errors.Join(store.NeedKey("session", idHash), store.NeedKey("email", email), store.NeedKey("course id", courseID)); err != nil {
		return r, fmt.Errorf("%s: %w", op, err)
	}
	pk := pkUser + email
	got, err := st.batchGet(ctx, op, key(pkSession+idHash, skSessionIt), key(pk, skProfile), key(pk, skGrant+courseID))
	if err != nil {
		return r, err
	}
	sess, profile, grant := got[0], got[1], got[2]
	if sess == nil {
		return r, nil
	}
	r.Session, r.SessionFound = sessionFrom(idHash, getS(sess, attrEmail), sess), true
	if r.Session.Email != email {
		return r, nil
	}
	r.Matched = true
	if profile != nil {
		r.User, r.UserFound = userFrom(profile), true
	}
	if grant != nil {
		r.Grant, r.Granted = grantFrom(grant), true
	}
	return r, nil
}

// userFrom is the user of a PROFILE item.
func userFrom(profile map[string]types.AttributeValue) store.User {
	return store.User{
		Email:        getS(profile, attrEmail),
		PasswordHash: getS(profile, attrHash),
		Disabled:     getBool(profile, attrDisabled),
		CreatedAt:    getTime(profile, attrCreated),
	}
}

// batchGet reads keys (distinct, at most 100) in consistent BatchGetItem
// calls, retrying the keys DynamoDB leaves unprocessed up to
// maxBatchAttempts calls in all, and returns the items in the order of keys
// (nil for a key with no item). ctx's OnSent function is called when the
// first call's request is written.
func (st *Store) batchGet(ctx context.Context, op string, keys ...map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	req := map[string]types.KeysAndAttributes{*st.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	got := make([]map[string]types.AttributeValue, len(keys))
	readCtx := sentTrace(ctx)
	for attempt := 0; ; attempt++ {
		out, err := st.db.BatchGetItem(readCtx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, wrapErr(op, err)
		}
		for _, it := range out.Responses[*st.table] {
			pk, sk := getS(it, attrPK), getS(it, attrSK)
			for i, k := range keys {
				if getS(k, attrPK) == pk && getS(k, attrSK) == sk {
					got[i] = it
				}
			}
		}
		req = out.UnprocessedKeys
		if len(req) == 0 {
			return got, nil
		}
		if attempt+1 >= maxBatchAttempts {
			return nil, fmt.Errorf("%s: %w: keys still unprocessed after %d attempts", op, store.ErrThrottled, maxBatchAttempts)
		}
		t := time.NewTimer(time.Duration(10<<attempt) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, wrapErr(op, ctx.Err())
		}
	}
}

// sentTrace returns ctx watching for its request's write (httptrace's
// WroteRequest, which the SDK's HTTP client honours through the request's
// context) when ctx carries a store.OnSent function, and ctx unchanged
// otherwise.
func sentTrace(ctx context.Context) context.Context {
	if !store.HasOnSent(ctx) {
		return ctx
	}
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				store.Sent(ctx)
			}
		},
	})
}

// PutGrant implements store.Store.
func (st *Store) PutGrant(ctx context.Context, g store.Grant) error {
	if err := errors.Join(store.NeedKey("email", g.Email), store.NeedKey("course id", g.CourseID)); err != nil {
		return fmt.Errorf("put grant: %w", err)
	}
	it := item(pkUser+g.Email, skGrant+g.CourseID, map[string]types.AttributeValue{
		attrEmail: s(g.Email), attrCourse: s(g.CourseID),
	})
	if !g.Expires.IsZero() {
		setTime(it, attrExpires, g.Expires)
		it[attrTTL] = ttlOf(g.Expires)
	}
	if _, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: st.table, Item: it}); err != nil {
		return wrapErr(fmt.Sprintf("put grant %s → %q", store.UserRef(g.Email), g.CourseID), err)
	}
	return nil
}

// DeleteGrant implements store.Store.
func (st *Store) DeleteGrant(ctx context.Context, email, courseID string) error {
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: st.table, Key: key(pkUser+email, skGrant+courseID)})
	if err != nil {
		return wrapErr(fmt.Sprintf("delete grant %s → %q", store.UserRef(email), courseID), err)
	}
	return nil
}

// ListGrants implements store.Store.
func (st *Store) ListGrants(ctx context.Context, email string) ([]store.Grant, error) {
	items, err := st.query(ctx, pkUser+email, skGrant)
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("list grants of %s", store.UserRef(email)), err)
	}
	out := make([]store.Grant, 0, len(items))
	for _, it := range items {
		out = append(out, grantFrom(it))
	}
	return out, nil
}

// Sessions. Errors name the user, never the session id hash.

// sessionAttrs are the attributes that the session item and its index item
// both carry.
func sessionAttrs(sess store.Session) map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{}
	setTime(m, attrCreated, sess.CreatedAt)
	setTime(m, attrExpires, sess.Expires)
	setTime(m, attrSeen, sess.LastSeen)
	if sess.UserAgent != "" {
		m[attrUA] = s(sess.UserAgent)
	}
	if !sess.Expires.IsZero() {
		m[attrTTL] = ttlOf(sess.Expires)
	}
	return m
}

func sessionFrom(idHash, email string, it map[string]types.AttributeValue) store.Session {
	return store.Session{
		IDHash:    idHash,
		Email:     email,
		CreatedAt: getTime(it, attrCreated),
		Expires:   getTime(it, attrExpires),
		UserAgent: getS(it, attrUA),
		LastSeen:  getTime(it, attrSeen),
	}
}

// CreateSession implements store.Store.
func (st *Store) CreateSession(ctx context.Context, sess store.Session) error {
	if err := errors.Join(store.NeedKey("session id hash", sess.IDHash), store.NeedKey("email", sess.Email)); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	op := fmt.Sprintf("create session of %s", store.UserRef(sess.Email))
	// Index item first: a session never exists without it.
	idx := item(pkUser+sess.Email, skSession+sess.IDHash, sessionAttrs(sess))
	if _, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: st.table, Item: idx}); err != nil {
		return wrapErr(op, err)
	}
	it := item(pkSession+sess.IDHash, skSessionIt, sessionAttrs(sess))
	it[attrEmail] = s(sess.Email)
	_, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                st.table,
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("%s: %w", op, store.ErrExists)
	}
	if err != nil {
		return wrapErr(op, err)
	}
	return nil
}

// ListUserSessions implements store.Store: one Query on the user's
// partition (SK begins_with SESSION#), reading the index items' copies.
func (st *Store) ListUserSessions(ctx context.Context, email string) ([]store.Session, error) {
	items, err := st.query(ctx, pkUser+email, skSession)
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("list sessions of %s", store.UserRef(email)), err)
	}
	out := make([]store.Session, 0, len(items))
	for _, it := range items {
		out = append(out, sessionFrom(strings.TrimPrefix(getS(it, attrSK), skSession), email, it))
	}
	store.SortSessions(out)
	return out, nil
}

// TouchSession implements store.Store: one transaction that sets "seen" on
// the session item (if it exists and is the user's) and on its index item
// (if it exists); a failed condition means the session is gone.
func (st *Store) TouchSession(ctx context.Context, idHash, email string, at time.Time) error {
	if err := errors.Join(store.NeedKey("session id hash", idHash), store.NeedKey("email", email)); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	names := map[string]string{"#seen": attrSeen, "#pk": attrPK}
	vals := map[string]types.AttributeValue{":seen": n(at.UnixMilli())}
	sessNames := map[string]string{"#seen": attrSeen, "#email": attrEmail}
	sessVals := map[string]types.AttributeValue{":seen": n(at.UnixMilli()), ":email": s(email)}
	_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{
				TableName:                 st.table,
				Key:                       key(pkSession+idHash, skSessionIt),
				UpdateExpression:          aws.String("SET #seen = :seen"),
				ConditionExpression:       aws.String("#email = :email"),
				ExpressionAttributeNames:  sessNames,
				ExpressionAttributeValues: sessVals,
			}},
			{Update: &types.Update{
				TableName:                 st.table,
				Key:                       key(pkUser+email, skSession+idHash),
				UpdateExpression:          aws.String("SET #seen = :seen"),
				ConditionExpression:       aws.String("attribute_exists(#pk)"),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: vals,
			}},
		},
	})
	if err != nil && !isTxConditionFailed(err) {
		return wrapErr(fmt.Sprintf("touch session of %s", store.UserRef(email)), err)
	}
	return nil
}

// isTxConditionFailed reports whether a transaction was cancelled only
// because a condition failed.
func isTxConditionFailed(err error) bool {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || len(tce.CancellationReasons) == 0 {
		return false
	}
	for _, r := range tce.CancellationReasons {
		if r.Code != nil && *r.Code != "None" && *r.Code != "ConditionalCheckFailed" {
			return false
		}
	}
	return true
}

// GetSession implements store.Store.
func (st *Store) GetSession(ctx context.Context, idHash string) (store.Session, error) {
	it, err := st.get(ctx, pkSession+idHash, skSessionIt)
	if err != nil {
		return store.Session{}, wrapErr("get session", err)
	}
	if it == nil {
		return store.Session{}, fmt.Errorf("get session: %w", store.ErrNotFound)
	}
	return sessionFrom(idHash, getS(it, attrEmail), it), nil
}

// DeleteSession implements store.Store.
func (st *Store) DeleteSession(ctx context.Context, idHash string) error {
	out, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:    st.table,
		Key:          key(pkSession+idHash, skSessionIt),
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return wrapErr("delete session", err)
	}
	if email := getS(out.Attributes, attrEmail); email != "" {
		// A failure here leaves an index item pointing at nothing, which
		// DeleteUserSessions skips and TTL removes.
		if _, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: st.table, Key: key(pkUser+email, skSession+idHash),
		}); err != nil {
			return wrapErr(fmt.Sprintf("delete session index of %s", store.UserRef(email)), err)
		}
	}
	return nil
}

// DeleteUserSessions implements store.Store.
func (st *Store) DeleteUserSessions(ctx context.Context, email string) (int, error) {
	op := fmt.Sprintf("delete sessions of %s", store.UserRef(email))
	idx, err := st.query(ctx, pkUser+email, skSession)
	if err != nil {
		return 0, wrapErr(op, err)
	}
	deleted := 0
	for _, it := range idx {
		hash := strings.TrimPrefix(getS(it, attrSK), skSession)
		_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 st.table,
			Key:                       key(pkSession+hash, skSessionIt),
			ConditionExpression:       aws.String("#email = :email"),
			ExpressionAttributeNames:  map[string]string{"#email": attrEmail},
			ExpressionAttributeValues: map[string]types.AttributeValue{":email": s(email)},
		})
		switch {
		case err == nil:
			deleted++
		case isConditionFailed(err): // already gone (or not this user's)
		default:
			return deleted, wrapErr(op, err)
		}
		if _, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: st.table, Key: key(pkUser+email, skSession+hash)}); err != nil {
			return deleted, wrapErr(op, err)
		}
	}
	return deleted, nil
}

// Failed-login counting.

// maxFailureAttempts bounds RecordFailure's retries when its two conditional
// updates keep losing races; each loss means another caller made progress.
const maxFailureAttempts = 16

// RecordFailure implements store.Store.
func (st *Store) RecordFailure(ctx context.Context, email string, now time.Time, window time.Duration) (int, error) {
	if err := store.NeedKey("email", email); err != nil {
		return 0, fmt.Errorf("record failure: %w", err)
	}
	return st.recordFailure(ctx, key(pkUser+email, skFailures), fmt.Sprintf("record failure of %s", store.UserRef(email)), now, window)
}

// RecordSourceFailure implements store.Store.
func (st *Store) RecordSourceFailure(ctx context.Context, email, source string, now time.Time, window time.Duration) (int, error) {
	if err := store.CheckSource(email, source); err != nil {
		return 0, fmt.Errorf("record failure: %w", err)
	}
	return st.recordFailure(ctx, key(pkUser+email, skSourceFailures+source), fmt.Sprintf("record failure of %s from one source", store.UserRef(email)), now, window)
}

// recordFailure counts one failure in the counter item k.
func (st *Store) recordFailure(ctx context.Context, k map[string]types.AttributeValue, op string, now time.Time, window time.Duration) (int, error) {
	if window < time.Millisecond {
		return 0, fmt.Errorf("%s: window %v shorter than 1ms", op, window)
	}
	nowMs := now.UnixMilli()
	end := time.UnixMilli(nowMs).Add(window)
	for range maxFailureAttempts {
		// 1. Count in the current window.
		out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                st.table,
			Key:                      k,
			UpdateExpression:         aws.String("ADD #count :one"),
			ConditionExpression:      aws.String("#wend > :now"),
			ExpressionAttributeNames: map[string]string{"#count": attrCount, "#wend": attrWEnd},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": n(1), ":now": n(nowMs),
			},
			ReturnValues: types.ReturnValueUpdatedNew,
		})
		if err == nil {
			c, ok := getN(out.Attributes, attrCount)
			if !ok {
				return 0, fmt.Errorf("%s: no count in the update's result", op)
			}
			return int(c), nil
		}
		if !isConditionFailed(err) {
			return 0, wrapErr(op, err)
		}
		// 2. No current window: start one.
		_, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                st.table,
			Key:                      k,
			UpdateExpression:         aws.String("SET #count = :one, #wstart = :now, #wend = :end, #ttl = :ttl"),
			ConditionExpression:      aws.String("attribute_not_exists(#wend) OR #wend <= :now"),
			ExpressionAttributeNames: map[string]string{"#count": attrCount, "#wstart": attrWStart, "#wend": attrWEnd, "#ttl": attrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": n(1), ":now": n(nowMs), ":end": n(end.UnixMilli()), ":ttl": ttlOf(end),
			},
		})
		if err == nil {
			return 1, nil
		}
		if !isConditionFailed(err) {
			return 0, wrapErr(op, err)
		}
		// 3. Someone else started a window between 1 and 2: count in it.
	}
	return 0, fmt.Errorf("%s: lost %d update races in a row", op, maxFailureAttempts)
}

// ForgiveFailure implements store.Store: one conditional UpdateItem, which
// does nothing when the window has passed or the count is not positive.
func (st *Store) ForgiveFailure(ctx context.Context, email string, now time.Time) error {
	if err := store.NeedKey("email", email); err != nil {
		return fmt.Errorf("forgive failure: %w", err)
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                st.table,
		Key:                      key(pkUser+email, skFailures),
		UpdateExpression:         aws.String("ADD #count :minus"),
		ConditionExpression:      aws.String("#wend > :now AND #count > :zero"),
		ExpressionAttributeNames: map[string]string{"#count": attrCount, "#wend": attrWEnd},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":minus": n(-1), ":now": n(now.UnixMilli()), ":zero": n(0),
		},
	})
	if err != nil && !isConditionFailed(err) {
		return wrapErr(fmt.Sprintf("forgive failure of %s", store.UserRef(email)), err)
	}
	return nil
}

// Failures implements store.Store.
func (st *Store) Failures(ctx context.Context, email string, now time.Time) (int, error) {
	return st.failures(ctx, email, skFailures, fmt.Sprintf("failures of %s", store.UserRef(email)), now)
}

// SourceFailures implements store.Store.
func (st *Store) SourceFailures(ctx context.Context, email, source string, now time.Time) (int, error) {
	if err := store.CheckSource(email, source); err != nil {
		return 0, fmt.Errorf("failures: %w", err)
	}
	return st.failures(ctx, email, skSourceFailures+source, fmt.Sprintf("failures of %s from one source", store.UserRef(email)), now)
}

func (st *Store) failures(ctx context.Context, email, sk, op string, now time.Time) (int, error) {
	it, err := st.get(ctx, pkUser+email, sk)
	if err != nil {
		return 0, wrapErr(op, err)
	}
	wend, ok := getN(it, attrWEnd)
	if !ok || wend <= now.UnixMilli() {
		return 0, nil
	}
	c, _ := getN(it, attrCount)
	return int(c), nil
}

// ResetSourceFailures implements store.Store.
func (st *Store) ResetSourceFailures(ctx context.Context, email, source string) error {
	if err := store.CheckSource(email, source); err != nil {
		return fmt.Errorf("reset failures: %w", err)
	}
	if _, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: st.table, Key: key(pkUser+email, skSourceFailures+source)}); err != nil {
		return wrapErr(fmt.Sprintf("reset failures of %s from one source", store.UserRef(email)), err)
	}
	return nil
}

// ResetFailures implements store.Store: a Query for the user's counters
// (SK begins_with FAILURES) and one DeleteItem each.
func (st *Store) ResetFailures(ctx context.Context, email string) error {
	op := fmt.Sprintf("reset failures of %s", store.UserRef(email))
	items, err := st.query(ctx, pkUser+email, skFailures)
	if err != nil {
		return wrapErr(op, err)
	}
	for _, it := range items {
		sk, ok := it[attrSK].(*types.AttributeValueMemberS)
		if !ok {
			continue
		}
		if _, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: st.table, Key: key(pkUser+email, sk.Value)}); err != nil {
			return wrapErr(op, err)
		}
	}
	return nil
}
