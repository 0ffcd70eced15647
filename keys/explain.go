package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/keyops"
)

type explainArgs struct {
	url, cookie, sourceIP, now string
	publicKeys                 []string
	stdin                      io.Reader // read for a --url or --cookie of "-"
}

// maxStdin bounds what explain reads for "-": a Cookie header or a URL, with
// room to spare (CloudFront's own limit on a request's headers is 20 KB).
const maxStdin = 64 << 10

// fromStdin resolves the flags given as "-" (at most one) from standard
// input, so that live cookies and signed URLs need not go on a command line
// or into shell history.
func (x *explainArgs) fromStdin() error {
	var target *string
	var name string
	for _, f := range []struct {
		name string
		v    *string
	}{{"--url", &x.url}, {"--cookie", &x.cookie}} {
		if *f.v != "-" {
			continue
		}
		if target != nil {
			return errors.New("only one of --url and --cookie can be - (standard input)")
		}
		target, name = f.v, f.name
	}
	if target == nil {
		return nil
	}
	if x.stdin == nil {
		return fmt.Errorf("%s -: no standard input", name)
	}
	b, err := io.ReadAll(io.LimitReader(x.stdin, maxStdin+1))
	if err != nil {
		return fmt.Errorf("%s -: read standard input: %w", name, err)
	}
	if len(b) > maxStdin {
		return fmt.Errorf("%s -: standard input longer than %d bytes", name, maxStdin)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return fmt.Errorf("%s -: standard input is empty", name)
	}
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%s -: standard input has more than one line", name)
	}
	*target = v
	return nil
}

// explanation is explain's --json output.
type explanation struct {
	Allowed     bool     `json:"allowed"`
	Status      int      `json:"status"`
	Code        string   `json:"code,omitempty"`
	Message     string   `json:"message,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	KeyPairID   string   `json:"keyPairId,omitempty"`
	Source      string   `json:"source,omitempty"`
	Policy      string   `json:"policy,omitempty"`
	TrustedKeys []string `json:"trustedKeys"`
}

func parseNow(s string, now func() time.Time) (time.Time, error) {
	if s == "" {
		return now(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--now %q: want RFC 3339 (2026-11-27T04:00:00Z) or Unix seconds", s)
	}
	return t, nil
}

// explainKeys builds the trusted keys: --public-key files, the local state
// folder's trusted-keys/, or the CloudFront key group's public keys.
func (a app) explainKeys(ctx context.Context, c *common, files []string) (verifier.Keys, []string, error) {
	switch {
	case len(files) > 0:
		m := verifier.KeyMap{}
		for _, f := range files {
			id, file, ok := strings.Cut(f, "=")
			if !ok || id == "" || file == "" {
				return nil, nil, fmt.Errorf("--public-key %q: want ID=FILE", f)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, nil, fmt.Errorf("--public-key %s: %w", id, err)
			}
			pub, err := verifier.ParsePublicKeyPEM(b)
			if err != nil {
				return nil, nil, fmt.Errorf("--public-key %s: %s: %w", id, file, err)
			}
			m[id] = pub
		}
		return m, sortedIDs(m), nil
	case c.local:
		if c.state == "" {
			return nil, nil, errors.New("--local needs --state DIR")
		}
		d, err := verifier.LoadDir(filepath.Join(c.state, keyops.LocalTrustedKeys))
		if err != nil {
			return nil, nil, fmt.Errorf("trusted keys: %w", err)
		}
		return d, d.IDs(), nil
	}
	b, _, err := a.backend(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	ids, err := b.GroupKeys(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("key group: %w", err)
	}
	m := verifier.KeyMap{}
	for _, id := range ids {
		pk, err := b.PublicKey(ctx, id)
		if err != nil {
			return nil, nil, fmt.Errorf("key group: %w", err)
		}
		pub, err := verifier.ParsePublicKeyPEM(pk.PEM)
		if err != nil {
			return nil, nil, fmt.Errorf("public key %s: %w", id, err)
		}
		m[id] = pub
	}
	return m, sortedIDs(m), nil
}

func sortedIDs(m verifier.KeyMap) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (a app) explain(ctx context.Context, c *common, x explainArgs, stdout io.Writer) error {
	if err := x.fromStdin(); err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	if x.url == "" {
		return errors.New("explain: --url is required (the URL the player requested; with --cookie, the URL the cookies were sent with)")
	}
	now, err := parseNow(x.now, a.now)
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	cookie := strings.TrimSpace(x.cookie)
	if len(cookie) >= 7 && strings.EqualFold(cookie[:7], "cookie:") {
		cookie = strings.TrimSpace(cookie[7:])
	}
	keys, ids, err := a.explainKeys(ctx, c, x.publicKeys)
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	req, err := verifier.NewRequest(x.url, cookie, x.sourceIP, now)
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	d := verifier.New(verifier.Options{}).Verify(req, keys)
	e := explanation{Allowed: d.Allowed, Status: 200, Code: d.Code, Message: d.Message, Reason: d.Reason,
		KeyPairID: d.KeyPairID, Source: d.Source, Policy: d.Policy, TrustedKeys: ids}
	if !d.Allowed {
		e.Status = 403
	}
	if c.json {
		if err := writeJSON(stdout, e); err != nil {
			return err
		}
	} else {
		if d.Allowed {
			fmt.Fprintln(stdout, "CloudFront answers: 200 (the signature and policy allow this request)")
		} else {
			fmt.Fprintf(stdout, "CloudFront answers: 403 %s (%q)\n", d.Code, d.Message)
		}
		if d.Reason != "" {
			fmt.Fprintf(stdout, "why:      %s\n", d.Reason)
		}
		if d.KeyPairID != "" || d.Source != "" {
			fmt.Fprintf(stdout, "signed:   key pair id %s, %s, %s policy\n", orDash(d.KeyPairID), orDash(d.Source), orDash(d.Policy))
		}
		fmt.Fprintf(stdout, "trusted:  %s\n", strings.Join(ids, " "))
		fmt.Fprintf(stdout, "request:  %s at %s\n", x.url, now.UTC().Format(time.RFC3339))
	}
	if !d.Allowed {
		return exitError{1}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
