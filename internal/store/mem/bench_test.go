package mem_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/mem"
)

// BenchmarkAccessLookups is the store part of a warm /access call: the
// session, the course and the grant, on a store of 10,000 users.
func BenchmarkAccessLookups(b *testing.B) {
	st := mem.New()
	ctx := context.Background()
	now := time.Now()
	for i := range 10_000 {
		email := fmt.Sprintf("user%d@example.com", i)
		if err := st.CreateSession(ctx, store.Session{IDHash: fmt.Sprintf("%064x", i), Email: email, Expires: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		if err := st.PutGrant(ctx, store.Grant{Email: email, CourseID: "intro"}); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.PutCourse(ctx, store.Course{ID: "intro", Title: "Intro"}); err != nil {
		b.Fatal(err)
	}
	id := fmt.Sprintf("%064x", 4242)
	b.ReportAllocs()
	for b.Loop() {
		s, err := st.GetSession(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.GetCourse(ctx, "intro"); err != nil {
			b.Fatal(err)
		}
		if _, err := st.GetGrant(ctx, s.Email, "intro"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordFailureParallel counts failures of one user from all Ps.
func BenchmarkRecordFailureParallel(b *testing.B) {
	st := mem.New()
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := st.RecordFailure(context.Background(), "ada@example.com", now, time.Hour); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
