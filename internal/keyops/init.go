package keyops

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/cfgate/cfgate/internal/cfsign"
)

// Init makes the first key pair, key group and secret; on a second run it
// only repairs what is missing (the key group, or the signing key's place in
// it). export, when not nil, receives the signing key's private PEM (for --out).
func (o *Ops) Init(ctx context.Context, export func(privatePEM []byte) error) (Result, error) {
	r := Result{Step: "init"}
	cur, err := o.optional(ctx, Current)
	if err != nil {
		return r, fmt.Errorf("read secret: %w", err)
	}
	if cur == nil {
		alg := o.Algorithm
		if o.UseKMS {
			alg = kmsAlgorithm(alg)
		} else if alg == "" {
			alg = cfsign.RSASHA1
		}
		if o.UseKMS && export != nil {
			return r, errors.New("a KMS key has no private key to export (drop --out)")
		}
		token := o.token()
		s, err := o.newKey(ctx, alg, token, o.UseKMS)
		if err != nil {
			return r, err
		}
		// Secret before group: if we stop in between, a rerun finds the key
		// in the secret and only adds it to the group; the other order would
		// leave a key in the group whose private key is lost.
		if err := o.B.CreateSecret(ctx, token, s); err != nil {
			return r, fmt.Errorf("create secret: %w", err)
		}
		gid, err := o.B.EnsureGroup(ctx, s.KeyPairID)
		if err != nil {
			return r, fmt.Errorf("key group: %w", err)
		}
		if err := o.tagKMSKey(ctx, s, gid); err != nil {
			return r, err
		}
		r.Changed = true
		if s.IsKMS() {
			r.note("created KMS key %s (%s; the private key never leaves KMS), registered its public key as %s, added it to the key group and named it in the secret", s.KMSKeyID, alg, s.KeyPairID)
		} else {
			r.note("created %s key %s, added it to the key group and stored it in the secret", alg, s.KeyPairID)
		}
		cur = &Version{ID: token, Secret: s}
	} else {
		keys, err := o.groupKeys(ctx)
		if err != nil {
			return r, fmt.Errorf("read key group: %w", err)
		}
		if !slices.Contains(keys, cur.Secret.KeyPairID) {
			if _, err := o.B.PublicKey(ctx, cur.Secret.KeyPairID); err != nil {
				return r, fmt.Errorf("the secret's key %s: %w", cur.Secret.KeyPairID, err)
			}
			if _, err := o.B.EnsureGroup(ctx, cur.Secret.KeyPairID); err != nil {
				return r, fmt.Errorf("key group: %w", err)
			}
			r.Changed = true
			r.note("added the signing key %s to the key group", cur.Secret.KeyPairID)
		} else {
			r.note("already initialised: signing key %s is in the key group", cur.Secret.KeyPairID)
		}
		if others := without(keys, cur.Secret.KeyPairID); len(others) > 0 {
			r.note("the key group also holds %v", others)
		}
		if cur.Secret.IsKMS() {
			gid, err := o.B.GroupID(ctx)
			if err != nil {
				return r, err
			}
			if err := o.tagKMSKey(ctx, cur.Secret, gid); err != nil {
				return r, err
			}
			r.note("the signing key is KMS key %s", cur.Secret.KMSKeyID)
		} else if o.UseKMS {
			r.note("the secret holds a private key: --kms does not replace it; move to a KMS key with `keys rotate start --kms` (keys/RUNBOOK.md)")
		}
	}
	if export != nil {
		if cur.Secret.IsKMS() {
			return r, errors.New("the signing key lives in KMS: there is no private key to export (drop --out)")
		}
		if err := export([]byte(cur.Secret.PrivateKey)); err != nil {
			return r, fmt.Errorf("export private key: %w", err)
		}
	}
	gid, err := o.B.GroupID(ctx)
	if err != nil {
		return r, err
	}
	r.KeyGroupID, r.SecretID, r.SigningKeyID = gid, o.B.SecretID(), cur.Secret.KeyPairID
	r.Next = "deploy with these parameters; rotate later with `keys rotate start`"
	return r, nil
}

// checkPair verifies that the public key CloudFront holds for s.KeyPairID is
// the public half of s's private key, by a sign/verify round trip over a
// test policy with the algorithm's hash. For a KMS key the signature is
// made by KMS, and KMS's public key must also equal CloudFront's.
func (o *Ops) checkPair(ctx context.Context, s cfsign.Secret) error {
	key, kmsPub, err := o.signerOf(ctx, s)
	if err != nil {
		return err
	}
	pk, err := o.B.PublicKey(ctx, s.KeyPairID)
	if err != nil {
		return fmt.Errorf("fetch public key: %w", err)
	}
	pub, err := parsePublicKeyPEM(pk.PEM)
	if err != nil {
		return fmt.Errorf("public key %s: %w", s.KeyPairID, err)
	}
	if s.IsKMS() {
		same, err := samePublicKey(kmsPub, pk.PEM)
		if err != nil || !same {
			return fmt.Errorf("CloudFront's public key %s is not KMS key %s's public key", s.KeyPairID, s.KMSKeyID)
		}
	}
	policy := []byte(`{"Statement":[{"Resource":"https://cfgate.invalid/keys-test","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}`)
	sig, err := key.SignPolicy(policy)
	if err != nil {
		return fmt.Errorf("sign test policy: %w", err)
	}
	if err := cfsign.Verify(s.Algorithm, pub, policy, sig); err != nil {
		return fmt.Errorf("the uploaded public key does not verify the private key's signature")
	}
	return nil
}

func parsePublicKeyPEM(b []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM PUBLIC KEY")
	}
	return x509.ParsePKIXPublicKey(block.Bytes)
}

func without(list []string, drop ...string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(drop, s) {
			out = append(out, s)
		}
	}
	return out
}
