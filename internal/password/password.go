// Package password hashes and verifies viewer passwords with argon2id
// (RFC 9106), stored as PHC strings that carry their own parameters:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// (salt and hash in unpadded standard base64). New hashes use at least the
// OWASP minimum m=19 MiB, t=2, p=1; stored hashes keep the parameters they
// were made with, so the defaults can be raised without locking anyone out
// (NeedsRehash tells when to re-hash after a successful login).
//
// See https://www.rfc-editor.org/rfc/rfc9106 and
// https://github.com/P-H-C/phc-string-format/blob/master/phc-sf-spec.md.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters plus the salt and key sizes.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	SaltLen int    // bytes
	KeyLen  int    // bytes
}

// Default are the parameters of new hashes: the OWASP Password Storage
// Cheat Sheet's first argon2id configuration (19 MiB, 2 passes, 1 lane),
// a 16-byte salt and a 32-byte key.
var Default = Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on parameters read from a stored hash. A hash with larger values is
// rejected rather than computed: a planted hash with m=4 GiB or t=10^6 would
// otherwise make a single login exhaust the function's memory or time.
const (
	MaxMemory  = 64 * 1024 // KiB (64 MiB: the function runs in 512 MB, peak RSS ~53 MiB)
	MaxTime    = 10
	MaxThreads = 16
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
	// MaxPasswordLen bounds what Hash accepts (bytes).
	MaxPasswordLen = 1024
)

// Errors.
var (
	// ErrInvalidHash means a stored hash is not a well-formed argon2id PHC
	// string within the accepted parameter limits.
	ErrInvalidHash = errors.New("invalid argon2id hash")
	// ErrInvalidPassword means Hash was given an empty or over-long password.
	ErrInvalidPassword = errors.New("password must be 1 to 1024 bytes")
)

const version = argon2.Version // 0x13 = 19

var b64 = base64.RawStdEncoding.Strict()

// Hash returns the PHC string of pw hashed with a fresh random salt and the
// Default parameters.
func Hash(pw string) (string, error) {
	return HashWith(pw, Default)
}

// HashWith is Hash with explicit parameters. They must be at least
// m=19456, t=2, p=1 and within the limits accepted by Verify.
func HashWith(pw string, p Params) (string, error) {
	if len(pw) == 0 || len(pw) > MaxPasswordLen {
		return "", ErrInvalidPassword
	}
	if p.Memory < Default.Memory || p.Time < Default.Time || p.Threads < 1 {
		return "", fmt.Errorf("hash password: parameters m=%d,t=%d,p=%d below the minimum m=%d,t=%d,p=1",
			p.Memory, p.Time, p.Threads, Default.Memory, Default.Time)
	}
	if err := p.check(); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(p.KeyLen))
	return format(p, salt, key), nil
}

// Verify reports whether pw matches the PHC hash. The comparison of the
// derived key is constant-time. An error means the hash itself is unusable
// (malformed, another algorithm or version, or parameters over the limits);
// a wrong password is (false, nil).
func Verify(hash, pw string) (bool, error) {
	p, salt, key, err := Parse(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// dummyHash has the Default parameters and a random key that no password
// derives (its salt is random too), so DummyVerify always does the full
// argon2id work of a real Verify and then fails.
var dummyHash = func() string {
	salt := make([]byte, Default.SaltLen)
	key := make([]byte, Default.KeyLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	_, _ = rand.Read(key)
	return format(Default, salt, key)
}()

// VerifyLogin is Verify for a login, where a failure must cost at least the
// work of a wrong password on a Default hash, whatever is stored, so that
// timing tells no kind of account from another or from an unknown email
// (which gets DummyVerify):
//   - a stored hash that does not parse gets DummyVerify's work, and the
//     error;
//   - a hash with other parameters is verified with its own, and a failure
//     then also does DummyVerify's work, unless its own cost at least as much
//     (memory × passes) as the Default.
//
// A hash whose parameters are not the Default is replaced at the owner's
// next successful login (NeedsRehash), so such accounts do not last.
func VerifyLogin(hash, pw string) (bool, error) {
	p, _, _, perr := Parse(hash)
	if perr != nil {
		DummyVerify(pw)
		return false, perr
	}
	ok, err := Verify(hash, pw)
	if err != nil {
		DummyVerify(pw)
		return false, err
	}
	if !ok && uint64(p.Memory)*uint64(p.Time) < uint64(Default.Memory)*uint64(Default.Time) {
		DummyVerify(pw)
	}
	return ok, nil
}

// dummyRuns counts DummyVerify calls, for tests of equal work.
var dummyRuns atomic.Int64

// DummyVerify does the work of Verify against a hash with the Default
// parameters and returns false. Call it for unknown users so they cost the
// same time (and memory) as a wrong password for a known user.
func DummyVerify(pw string) bool {
	dummyRuns.Add(1)
	_, _ = Verify(dummyHash, pw)
	return false
}

// NeedsRehash reports whether hash should be replaced by a new Hash of the
// same password (after a successful Verify): it is unparsable, or its
// parameters or sizes differ from Default.
func NeedsRehash(hash string) bool {
	p, _, _, err := Parse(hash)
	if err != nil {
		return true
	}
	return p.Memory != Default.Memory || p.Time != Default.Time || p.Threads != Default.Threads ||
		p.SaltLen != Default.SaltLen || p.KeyLen != Default.KeyLen
}

// Parse decodes an argon2id PHC string. Only the canonical form that Hash
// writes is accepted (fields in order m,t,p; decimal without leading zeros;
// unpadded base64 with zero trailing bits), so Parse followed by formatting
// gives back the input exactly. Errors wrap ErrInvalidHash and never contain
// the salt or the key.
func Parse(hash string) (p Params, salt, key []byte, err error) {
	fail := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrInvalidHash, why)
	}
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	f := strings.Split(hash, "$")
	if len(f) != 6 || f[0] != "" {
		return fail("want 5 $-separated fields")
	}
	if f[1] != "argon2id" {
		return fail("algorithm is not argon2id")
	}
	if f[2] != "v=19" {
		return fail("version is not 19")
	}
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return fail("want parameters m,t,p")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return fail("want parameters m,t,p in that order")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != v {
			return fail("parameter " + name + " is not a canonical decimal")
		}
		vals[i] = n
	}
	if vals[2] > MaxThreads || vals[2] < 1 {
		return fail("parameter p out of range")
	}
	p = Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])}
	// The decoder skips \r and \n; the re-encoding check rejects them too.
	if salt, err = b64.DecodeString(f[4]); err != nil || b64.EncodeToString(salt) != f[4] {
		return fail("salt is not unpadded base64")
	}
	if key, err = b64.DecodeString(f[5]); err != nil || b64.EncodeToString(key) != f[5] {
		return fail("hash is not unpadded base64")
	}
	p.SaltLen, p.KeyLen = len(salt), len(key)
	if err := p.check(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %w", ErrInvalidHash, err)
	}
	return p, salt, key, nil
}

// check enforces the limits on parameters (for stored and new hashes).
func (p Params) check() error {
	switch {
	case p.Memory > MaxMemory:
		return fmt.Errorf("memory %d KiB over the limit %d", p.Memory, MaxMemory)
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("time %d outside 1..%d", p.Time, MaxTime)
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Errorf("threads %d outside 1..%d", p.Threads, MaxThreads)
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("memory %d KiB below 8*threads", p.Memory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d outside %d..%d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d outside %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

func format(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}
