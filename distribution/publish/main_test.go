package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"help", []string{"-h"}, ""},
		{"no bucket", []string{"--course", "intro", "dir"}, "--bucket is required"},
		{"bad flag", []string{"--nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(stderr.String(), "usage: publish --bucket BUCKET --course ID") {
				t.Errorf("no usage on stderr: %q", stderr.String())
			}
		})
	}
}
