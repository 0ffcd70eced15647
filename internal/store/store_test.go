package store

import (
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"  Ada@Example.COM\t": "ada@example.com",
		"bob@example.test":    "bob@example.test",
		"":                    "",
	} {
		if got := NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUserRefNamesNoEmail(t *testing.T) {
	ref, hash := UserRef("ada@example.com"), UserHash("ada@example.com")
	if strings.Contains(ref, "ada") || strings.Contains(ref, "@") || ref != "user "+hash || len(hash) != 16 {
		t.Errorf("UserRef = %q, UserHash = %q", ref, hash)
	}
	if UserHash("ada@example.com") == UserHash("bob@example.com") {
		t.Error("two emails share a hash")
	}
}
