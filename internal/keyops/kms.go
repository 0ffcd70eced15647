package keyops

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
)

// KMSAPI is the part of *kms.Client that keys and the rotation function use
// for signing keys that never leave KMS.
type KMSAPI interface {
	CreateKey(ctx context.Context, params *kms.CreateKeyInput, optFns ...func(*kms.Options)) (*kms.CreateKeyOutput, error)
	CreateAlias(ctx context.Context, params *kms.CreateAliasInput, optFns ...func(*kms.Options)) (*kms.CreateAliasOutput, error)
	DescribeKey(ctx context.Context, params *kms.DescribeKeyInput, optFns ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
	GetPublicKey(ctx context.Context, params *kms.GetPublicKeyInput, optFns ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
	Sign(ctx context.Context, params *kms.SignInput, optFns ...func(*kms.Options)) (*kms.SignOutput, error)
	TagResource(ctx context.Context, params *kms.TagResourceInput, optFns ...func(*kms.Options)) (*kms.TagResourceOutput, error)
	ScheduleKeyDeletion(ctx context.Context, params *kms.ScheduleKeyDeletionInput, optFns ...func(*kms.Options)) (*kms.ScheduleKeyDeletionOutput, error)
}

// Tags on cfgate's KMS signing keys. The login function may call kms:Sign
// only on keys tagged TagKMSKeyGroup with its key group id (template.yaml),
// so a rotation's new key is usable without a redeploy.
const (
	// TagKMSSigningKey marks a KMS key as a cfgate signing key; its value
	// is the key group name (--name).
	TagKMSSigningKey = "cfgate:signing-key"
	// TagKMSKeyGroup is the id of the key group the key's public key is in.
	TagKMSKeyGroup = "cfgate:key-group-id"
	// KMSDeletionWindowDays is the pending window of a retired KMS key: the
	// longest KMS allows, so a mistake can be undone with CancelKeyDeletion.
	KMSDeletionWindowDays = 30
)

// KMSKeySpec returns the KMS key spec for alg: ECC_NIST_P256 for
// ECDSA-SHA256, RSA_2048 for RSA-SHA256 ("" for RSA-SHA1, which KMS cannot sign).
func KMSKeySpec(alg cfsign.Algorithm) kmstypes.KeySpec {
	switch alg {
	case cfsign.ECDSASHA256:
		return kmstypes.KeySpecEccNistP256
	case cfsign.RSASHA256:
		return kmstypes.KeySpecRsa2048
	}
	return ""
}

// kmsAlgorithm is the algorithm of a new KMS key: alg when KMS can sign it,
// RSA-SHA256 for an RSA-SHA1 request (KMS signs RSA with SHA-256 only, so
// such cookies carry CloudFront-Hash-Algorithm=SHA256), ECDSA-SHA256 when
// alg is empty.
func kmsAlgorithm(alg cfsign.Algorithm) cfsign.Algorithm {
	switch alg {
	case "":
		return cfsign.ECDSASHA256
	case cfsign.RSASHA1:
		return cfsign.RSASHA256
	}
	return alg
}

func (o *Ops) needKMS(what string) error {
	if o.KMS == nil {
		return fmt.Errorf("%s needs KMS access (the secret names a KMS key, or --kms was given); the local backend has none", what)
	}
	return nil
}

// kmsAlias is the alias of the KMS key made under token: a retry with the
// same token (a rotation step Secrets Manager repeats) finds the key instead
// of making another.
func (o *Ops) kmsAlias(token string) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, token)
	return "alias/" + o.name() + "/" + clean
}

func isKMSNotFound(err error) bool {
	var nf *kmstypes.NotFoundException
	return errors.As(err, &nf) || apiCode(err) == "NotFoundException"
}

// newKMSKey makes (or, for a repeated token, finds) an asymmetric SIGN_VERIFY
// KMS key with an alias and tags, and uploads its public key (GetPublicKey)
// to CloudFront. The private key never leaves KMS; the returned Secret names
// the key by ARN.
func (o *Ops) newKMSKey(ctx context.Context, alg cfsign.Algorithm, token string) (cfsign.Secret, error) {
	if err := o.needKMS("a KMS signing key"); err != nil {
		return cfsign.Secret{}, err
	}
	spec := KMSKeySpec(alg)
	if spec == "" {
		return cfsign.Secret{}, fmt.Errorf("KMS cannot sign %s: use ecdsa-p256 or rsa-2048 (RSA-SHA256)", alg)
	}
	alias := o.kmsAlias(token)
	var arn string
	d, err := o.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)})
	switch {
	case err == nil && d.KeyMetadata != nil && d.KeyMetadata.KeyState != kmstypes.KeyStatePendingDeletion:
		arn = aws.ToString(d.KeyMetadata.Arn) // made by an earlier attempt with this token
	case err == nil, isKMSNotFound(err):
		gid, err := o.B.GroupID(ctx)
		if err != nil {
			return cfsign.Secret{}, err
		}
		tags := []kmstypes.Tag{{TagKey: aws.String(TagKMSSigningKey), TagValue: aws.String(o.name())}}
		if gid != "" {
			tags = append(tags, kmstypes.Tag{TagKey: aws.String(TagKMSKeyGroup), TagValue: aws.String(gid)})
		}
		out, err := o.KMS.CreateKey(ctx, &kms.CreateKeyInput{
			KeySpec:     spec,
			KeyUsage:    kmstypes.KeyUsageTypeSignVerify,
			Description: aws.String("cfgate CloudFront signing key (" + string(alg) + "); managed by `keys` (see keys/RUNBOOK.md)"),
			Tags:        tags,
		})
		if err != nil {
			return cfsign.Secret{}, fmt.Errorf("create KMS key: %w", err)
		}
		arn = aws.ToString(out.KeyMetadata.Arn)
		if _, err := o.KMS.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
			return cfsign.Secret{}, fmt.Errorf("alias KMS key %s as %s: %w", arn, alias, err)
		}
	default:
		return cfsign.Secret{}, fmt.Errorf("look up KMS alias %s: %w", alias, err)
	}
	pub, err := o.kmsPublicKey(ctx, arn, alg)
	if err != nil {
		return cfsign.Secret{}, err
	}
	pubPEM, err := cfsign.MarshalPublicKeyPEM(pub)
	if err != nil {
		return cfsign.Secret{}, err
	}
	name := fmt.Sprintf("%s-%s", o.name(), o.now().UTC().Format("20060102T150405Z"))
	id, err := o.B.CreatePublicKey(ctx, token, name, pubPEM)
	if err != nil {
		return cfsign.Secret{}, fmt.Errorf("create public key: %w", err)
	}
	return cfsign.Secret{KeyPairID: id, KMSKeyID: arn, Algorithm: alg}, nil
}

// kmsPublicKey returns the public key of a KMS key, checking that the key
// signs with alg.
func (o *Ops) kmsPublicKey(ctx context.Context, keyID string, alg cfsign.Algorithm) (crypto.PublicKey, error) {
	out, err := o.KMS.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return nil, fmt.Errorf("get public key of KMS key %s: %w", keyID, err)
	}
	if out.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
		return nil, fmt.Errorf("KMS key %s has usage %s, want SIGN_VERIFY", keyID, out.KeyUsage)
	}
	want := kmstypes.SigningAlgorithmSpec(cfsign.KMSSigningAlgorithm(alg))
	ok := false
	for _, a := range out.SigningAlgorithms {
		ok = ok || a == want
	}
	if !ok {
		return nil, fmt.Errorf("KMS key %s (%s) does not sign %s", keyID, out.KeySpec, want)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: public key: %w", keyID, err)
	}
	return pub, nil
}

// tagKMSKey records the key group on a KMS key (idempotent): the login
// function's kms:Sign permission is conditioned on this tag.
func (o *Ops) tagKMSKey(ctx context.Context, s cfsign.Secret, groupID string) error {
	if !s.IsKMS() || groupID == "" {
		return nil
	}
	if err := o.needKMS("tagging the KMS key"); err != nil {
		return err
	}
	_, err := o.KMS.TagResource(ctx, &kms.TagResourceInput{KeyId: aws.String(s.KMSKeyID), Tags: []kmstypes.Tag{
		{TagKey: aws.String(TagKMSSigningKey), TagValue: aws.String(o.name())},
		{TagKey: aws.String(TagKMSKeyGroup), TagValue: aws.String(groupID)},
	}})
	if err != nil {
		return fmt.Errorf("tag KMS key %s with key group %s: %w", s.KMSKeyID, groupID, err)
	}
	return nil
}

// retireKMSKey schedules the deletion of a KMS key that no longer signs and
// whose public key left the key group, with the longest pending window. A
// key already pending deletion is left as it is.
func (o *Ops) retireKMSKey(ctx context.Context, keyID string) (bool, error) {
	if err := o.needKMS("retiring a KMS key"); err != nil {
		return false, err
	}
	d, err := o.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if isKMSNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("describe KMS key %s: %w", keyID, err)
	}
	if d.KeyMetadata != nil && d.KeyMetadata.KeyState == kmstypes.KeyStatePendingDeletion {
		return false, nil
	}
	_, err = o.KMS.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID), PendingWindowInDays: aws.Int32(KMSDeletionWindowDays)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "KMSInvalidStateException" {
			return false, nil // raced with another deletion
		}
		return false, fmt.Errorf("schedule deletion of KMS key %s: %w", keyID, err)
	}
	return true, nil
}

// kmsKeyState returns the KMS key's state (Enabled, PendingDeletion, …) or
// "" when it cannot be read.
func (o *Ops) kmsKeyState(ctx context.Context, keyID string) string {
	if o.KMS == nil || keyID == "" {
		return ""
	}
	d, err := o.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil || d.KeyMetadata == nil {
		return ""
	}
	return string(d.KeyMetadata.KeyState)
}

// signer returns a crypto.Signer for s and its public key when known (KMS:
// from GetPublicKey).
func (o *Ops) signerOf(ctx context.Context, s cfsign.Secret) (*cfsign.Key, crypto.PublicKey, error) {
	if !s.IsKMS() {
		key, err := s.Key()
		if err != nil {
			return nil, nil, fmt.Errorf("parse secret: %w", err)
		}
		return key, key.Signer.Public(), nil
	}
	if err := o.needKMS("testing a KMS key"); err != nil {
		return nil, nil, err
	}
	alg, err := cfsign.ParseAlgorithm(string(s.Algorithm))
	if err != nil {
		return nil, nil, err
	}
	pub, err := o.kmsPublicKey(ctx, s.KMSKeyID, alg)
	if err != nil {
		return nil, nil, err
	}
	signer, err := keysource.NewKMSSigner(SDKSigner(o.KMS), s.KMSKeyID, alg, pub, 0)
	if err != nil {
		return nil, nil, err
	}
	key, err := cfsign.NewKey(s.KeyPairID, alg, signer) // probes: one kms:Sign
	if err != nil {
		return nil, nil, err
	}
	return key, pub, nil
}

// samePublicKey reports whether two PEM/parsed public keys are the same key.
func samePublicKey(a crypto.PublicKey, pemB []byte) (bool, error) {
	block, _ := pem.Decode(pemB)
	if block == nil {
		return false, errors.New("not PEM")
	}
	da, err := x509.MarshalPKIXPublicKey(a)
	if err != nil {
		return false, err
	}
	b, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return false, err
	}
	db, err := x509.MarshalPKIXPublicKey(b)
	if err != nil {
		return false, err
	}
	return string(da) == string(db), nil
}

// SDKSigner adapts the SDK's KMS client to keysource.KMSSignAPI, for keys and
// the rotation function (the login function uses internal/kmssign).
func SDKSigner(c KMSAPI) keysource.KMSSignAPI { return sdkSigner{c} }

type sdkSigner struct{ c KMSAPI }

func (s sdkSigner) SignDigest(ctx context.Context, keyID, signingAlgorithm string, digest []byte) ([]byte, error) {
	out, err := s.c.Sign(ctx, &kms.SignInput{
		KeyId:            aws.String(keyID),
		Message:          digest,
		MessageType:      kmstypes.MessageTypeDigest,
		SigningAlgorithm: kmstypes.SigningAlgorithmSpec(signingAlgorithm),
	})
	if err != nil {
		return nil, err
	}
	return out.Signature, nil
}
