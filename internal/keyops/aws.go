package keyops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/cfgate/cfgate/internal/cfsign"
)

// CloudFrontAPI is the part of *cloudfront.Client the AWS backend uses.
type CloudFrontAPI interface {
	CreatePublicKey(ctx context.Context, params *cloudfront.CreatePublicKeyInput, optFns ...func(*cloudfront.Options)) (*cloudfront.CreatePublicKeyOutput, error)
	GetPublicKey(ctx context.Context, params *cloudfront.GetPublicKeyInput, optFns ...func(*cloudfront.Options)) (*cloudfront.GetPublicKeyOutput, error)
	DeletePublicKey(ctx context.Context, params *cloudfront.DeletePublicKeyInput, optFns ...func(*cloudfront.Options)) (*cloudfront.DeletePublicKeyOutput, error)
	ListPublicKeys(ctx context.Context, params *cloudfront.ListPublicKeysInput, optFns ...func(*cloudfront.Options)) (*cloudfront.ListPublicKeysOutput, error)
	CreateKeyGroup(ctx context.Context, params *cloudfront.CreateKeyGroupInput, optFns ...func(*cloudfront.Options)) (*cloudfront.CreateKeyGroupOutput, error)
	GetKeyGroup(ctx context.Context, params *cloudfront.GetKeyGroupInput, optFns ...func(*cloudfront.Options)) (*cloudfront.GetKeyGroupOutput, error)
	UpdateKeyGroup(ctx context.Context, params *cloudfront.UpdateKeyGroupInput, optFns ...func(*cloudfront.Options)) (*cloudfront.UpdateKeyGroupOutput, error)
	ListKeyGroups(ctx context.Context, params *cloudfront.ListKeyGroupsInput, optFns ...func(*cloudfront.Options)) (*cloudfront.ListKeyGroupsOutput, error)
}

// SecretsManagerAPI is the part of *secretsmanager.Client the AWS backend uses.
type SecretsManagerAPI interface {
	CreateSecret(ctx context.Context, params *secretsmanager.CreateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	DescribeSecret(ctx context.Context, params *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, params *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, params *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	TagResource(ctx context.Context, params *secretsmanager.TagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	UntagResource(ctx context.Context, params *secretsmanager.UntagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error)
}

// Tags on the secret. The key group id is recorded at init so later
// commands need only the secret's name; the rotation state lives in tags
// because the secret's value format is fixed and tags are readable with
// secretsmanager:DescribeSecret, which the rotation function has anyway.
const (
	TagKeyGroupID  = "cfgate:key-group-id"
	TagStep        = "cfgate:rotation-step"
	TagSigningKey  = "cfgate:signing-key"
	TagRetiringKey = "cfgate:retiring-key"
	TagPromotedAt  = "cfgate:promoted-at"
	// TagAddedKey and TagAddedAt record which key the last start put into
	// the key group and when (RFC 3339): promote waits for propagation from then.
	TagAddedKey = "cfgate:added-key"
	TagAddedAt  = "cfgate:added-at"
	// TagGrace records the grace period in force at promote (a Go duration).
	TagGrace = "cfgate:grace"
)

// stateTags are the tags that hold the rotation State.
var stateTags = []string{TagStep, TagSigningKey, TagRetiringKey, TagPromotedAt, TagAddedKey, TagAddedAt, TagGrace}

// AWSOptions configures NewAWS.
type AWSOptions struct {
	// SecretID is the secret's name or ARN (default "cfgate/signing-key").
	SecretID string
	// KeyGroupID is the key group; when empty it is read from the secret's
	// cfgate:key-group-id tag, else found by GroupName.
	KeyGroupID string
	// GroupName names the key group init creates (default "cfgate").
	GroupName string
	// Attempts bounds the read-modify-write attempts on an ETag conflict (default 4).
	Attempts int
}

// AWS is the Backend on CloudFront and Secrets Manager.
type AWS struct {
	cf   CloudFrontAPI
	sm   SecretsManagerAPI
	opts AWSOptions

	mu      sync.Mutex
	groupID string
	arn     string
}

// NewAWS returns the AWS backend.
func NewAWS(cf CloudFrontAPI, sm SecretsManagerAPI, opts AWSOptions) *AWS {
	if opts.SecretID == "" {
		opts.SecretID = "cfgate/signing-key"
	}
	if opts.GroupName == "" {
		opts.GroupName = "cfgate"
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 4
	}
	return &AWS{cf: cf, sm: sm, opts: opts, groupID: opts.KeyGroupID}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// SecretID implements Backend: the ARN once known, else the name given.
func (b *AWS) SecretID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.secretIDLocked()
}

func (b *AWS) secretIDLocked() string {
	if b.arn != "" {
		return b.arn
	}
	return b.opts.SecretID
}

func (b *AWS) describe(ctx context.Context) (*secretsmanager.DescribeSecretOutput, error) {
	out, err := b.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(b.opts.SecretID)})
	if err != nil {
		if apiCode(err) == "ResourceNotFoundException" {
			return nil, fmt.Errorf("secret %s: %w", b.opts.SecretID, ErrNotFound)
		}
		return nil, fmt.Errorf("describe secret %s: %w", b.opts.SecretID, err)
	}
	b.mu.Lock()
	b.arn = aws.ToString(out.ARN)
	b.mu.Unlock()
	return out, nil
}

// GroupID implements Backend.
func (b *AWS) GroupID(ctx context.Context) (string, error) {
	b.mu.Lock()
	id := b.groupID
	b.mu.Unlock()
	if id != "" {
		return id, nil
	}
	d, err := b.describe(ctx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	if d != nil {
		for _, t := range d.Tags {
			if aws.ToString(t.Key) == TagKeyGroupID {
				id = aws.ToString(t.Value)
			}
		}
	}
	if id == "" {
		var marker *string
		for {
			out, err := b.cf.ListKeyGroups(ctx, &cloudfront.ListKeyGroupsInput{Marker: marker})
			if err != nil {
				return "", fmt.Errorf("list key groups: %w", err)
			}
			if out.KeyGroupList == nil {
				break
			}
			for _, it := range out.KeyGroupList.Items {
				if it.KeyGroup != nil && it.KeyGroup.KeyGroupConfig != nil && aws.ToString(it.KeyGroup.KeyGroupConfig.Name) == b.opts.GroupName {
					id = aws.ToString(it.KeyGroup.Id)
				}
			}
			if id != "" || aws.ToString(out.KeyGroupList.NextMarker) == "" {
				break
			}
			marker = out.KeyGroupList.NextMarker
		}
	}
	b.mu.Lock()
	b.groupID = id
	b.mu.Unlock()
	return id, nil
}

type keyGroup struct {
	id, etag, name, comment string
	items                   []string
}

func (b *AWS) getGroup(ctx context.Context) (*keyGroup, error) {
	id, err := b.GroupID(ctx)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("key group %q: %w", b.opts.GroupName, ErrNotFound)
	}
	out, err := b.cf.GetKeyGroup(ctx, &cloudfront.GetKeyGroupInput{Id: aws.String(id)})
	if err != nil {
		if apiCode(err) == "NoSuchResource" {
			return nil, fmt.Errorf("key group %s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("get key group %s: %w", id, err)
	}
	g := &keyGroup{id: id, etag: aws.ToString(out.ETag)}
	if out.KeyGroup != nil && out.KeyGroup.KeyGroupConfig != nil {
		c := out.KeyGroup.KeyGroupConfig
		g.name, g.comment, g.items = aws.ToString(c.Name), aws.ToString(c.Comment), c.Items
	}
	return g, nil
}

// GroupKeys implements Backend.
func (b *AWS) GroupKeys(ctx context.Context) ([]string, error) {
	g, err := b.getGroup(ctx)
	if err != nil {
		return nil, err
	}
	return g.items, nil
}

// EnsureGroup implements Backend.
func (b *AWS) EnsureGroup(ctx context.Context, keyID string) (string, error) {
	id, err := b.GroupID(ctx)
	if err != nil {
		return "", err
	}
	if id != "" {
		err := b.AddKey(ctx, keyID)
		if !errors.Is(err, ErrNotFound) || b.opts.KeyGroupID != "" {
			return id, err
		}
		// The group recorded on the secret was deleted: make a new one.
	}
	out, err := b.cf.CreateKeyGroup(ctx, &cloudfront.CreateKeyGroupInput{KeyGroupConfig: &cftypes.KeyGroupConfig{
		Name:    aws.String(b.opts.GroupName),
		Items:   []string{keyID},
		Comment: aws.String("cfgate signing keys; managed by `keys` (see keys/RUNBOOK.md)"),
	}})
	if err != nil {
		return "", fmt.Errorf("create key group %q: %w", b.opts.GroupName, err)
	}
	id = aws.ToString(out.KeyGroup.Id)
	b.mu.Lock()
	b.groupID = id
	b.mu.Unlock()
	// Record the group on an existing secret too (init repairing a half-done run).
	if _, err := b.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(b.opts.SecretID),
		Tags: []smtypes.Tag{{Key: aws.String(TagKeyGroupID), Value: aws.String(id)}}}); err != nil && apiCode(err) != "ResourceNotFoundException" {
		return id, fmt.Errorf("tag secret with key group: %w", err)
	}
	return id, nil
}

// updateGroup is a read-modify-write of the key group's items with IfMatch,
// re-read and retried when CloudFront answers 412 PreconditionFailed.
func (b *AWS) updateGroup(ctx context.Context, what string, mutate func(items []string) ([]string, bool, error)) error {
	for attempt := 1; ; attempt++ {
		g, err := b.getGroup(ctx)
		if err != nil {
			return err
		}
		items, changed, err := mutate(g.items)
		if err != nil || !changed {
			return err
		}
		_, err = b.cf.UpdateKeyGroup(ctx, &cloudfront.UpdateKeyGroupInput{
			Id:             aws.String(g.id),
			IfMatch:        aws.String(g.etag),
			KeyGroupConfig: &cftypes.KeyGroupConfig{Name: aws.String(g.name), Items: items, Comment: nilIfEmpty(g.comment)},
		})
		switch code := apiCode(err); {
		case err == nil:
			return nil
		case code == "PreconditionFailed" && attempt < b.opts.Attempts:
			continue // someone changed the group since we read it: read again
		case code == "PreconditionFailed":
			return fmt.Errorf("%s: %w: its ETag changed under us %d times in a row; another operator or the rotation function is editing it — check `keys status` and run the command again", what, ErrConflict, attempt)
		case code == "TooManyPublicKeysInKeyGroup":
			return fmt.Errorf("%s: %w", what, ErrGroupFull)
		case code == "NoSuchResource":
			return fmt.Errorf("%s: key group %s: %w", what, g.id, ErrNotFound)
		default:
			return fmt.Errorf("%s: update key group %s: %w", what, g.id, err)
		}
	}
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// AddKey implements Backend.
func (b *AWS) AddKey(ctx context.Context, keyID string) error {
	return b.updateGroup(ctx, "add "+keyID, func(items []string) ([]string, bool, error) {
		for _, it := range items {
			if it == keyID {
				return items, false, nil
			}
		}
		if len(items) >= MaxKeysPerGroup {
			return nil, false, fmt.Errorf("add %s: key group has %d keys %v: %w", keyID, len(items), items, ErrGroupFull)
		}
		return append(append([]string(nil), items...), keyID), true, nil
	})
}

// RemoveKey implements Backend.
func (b *AWS) RemoveKey(ctx context.Context, keyID string) error {
	return b.updateGroup(ctx, "remove "+keyID, func(items []string) ([]string, bool, error) {
		out := without(items, keyID)
		if len(out) == len(items) {
			return items, false, nil
		}
		if len(out) == 0 {
			return nil, false, fmt.Errorf("remove %s: it is the key group's last key", keyID)
		}
		return out, true, nil
	})
}

// CreatePublicKey implements Backend. ref is the CallerReference; a retry
// with the same ref finds the key created by the first attempt by its name.
func (b *AWS) CreatePublicKey(ctx context.Context, ref, name string, pemBytes []byte) (string, error) {
	name = name + "-" + shortRef(ref)
	out, err := b.cf.CreatePublicKey(ctx, &cloudfront.CreatePublicKeyInput{PublicKeyConfig: &cftypes.PublicKeyConfig{
		CallerReference: aws.String(ref),
		Name:            aws.String(name),
		EncodedKey:      aws.String(string(pemBytes)),
		Comment:         aws.String("cfgate signing key"),
	}})
	if apiCode(err) == "PublicKeyAlreadyExists" {
		id, lerr := b.findPublicKey(ctx, name)
		if lerr != nil {
			return "", lerr
		}
		if id != "" {
			return id, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("create public key %s: %w", name, err)
	}
	return aws.ToString(out.PublicKey.Id), nil
}

func shortRef(ref string) string {
	if len(ref) > 8 {
		return ref[:8]
	}
	return ref
}

func (b *AWS) findPublicKey(ctx context.Context, name string) (string, error) {
	var marker *string
	for {
		out, err := b.cf.ListPublicKeys(ctx, &cloudfront.ListPublicKeysInput{Marker: marker})
		if err != nil {
			return "", fmt.Errorf("list public keys: %w", err)
		}
		if out.PublicKeyList == nil {
			return "", nil
		}
		for _, k := range out.PublicKeyList.Items {
			if aws.ToString(k.Name) == name {
				return aws.ToString(k.Id), nil
			}
		}
		if aws.ToString(out.PublicKeyList.NextMarker) == "" {
			return "", nil
		}
		marker = out.PublicKeyList.NextMarker
	}
}

// PublicKey implements Backend.
func (b *AWS) PublicKey(ctx context.Context, id string) (*PublicKey, error) {
	out, err := b.cf.GetPublicKey(ctx, &cloudfront.GetPublicKeyInput{Id: aws.String(id)})
	if err != nil {
		if apiCode(err) == "NoSuchPublicKey" {
			return nil, fmt.Errorf("public key %s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("get public key %s: %w", id, err)
	}
	pk := &PublicKey{ID: id}
	if out.PublicKey != nil {
		pk.Created = aws.ToTime(out.PublicKey.CreatedTime)
		if c := out.PublicKey.PublicKeyConfig; c != nil {
			pk.Name, pk.PEM = aws.ToString(c.Name), []byte(aws.ToString(c.EncodedKey))
		}
	}
	return pk, nil
}

// DeletePublicKey implements Backend.
func (b *AWS) DeletePublicKey(ctx context.Context, id string) error {
	for attempt := 1; ; attempt++ {
		out, err := b.cf.GetPublicKey(ctx, &cloudfront.GetPublicKeyInput{Id: aws.String(id)})
		if apiCode(err) == "NoSuchPublicKey" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get public key %s: %w", id, err)
		}
		_, err = b.cf.DeletePublicKey(ctx, &cloudfront.DeletePublicKeyInput{Id: aws.String(id), IfMatch: out.ETag})
		switch code := apiCode(err); {
		case err == nil, code == "NoSuchPublicKey":
			return nil
		case code == "PublicKeyInUse":
			return fmt.Errorf("delete public key %s: %w", id, ErrKeyInUse)
		case code == "PreconditionFailed" && attempt < b.opts.Attempts:
			continue
		default:
			return fmt.Errorf("delete public key %s: %w", id, err)
		}
	}
}

// CreateSecret implements Backend. The secret is tagged with the key group id.
func (b *AWS) CreateSecret(ctx context.Context, token string, s cfsign.Secret) error {
	value, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode secret: %w", err)
	}
	gid, err := b.GroupID(ctx)
	if err != nil {
		return err
	}
	var tags []smtypes.Tag
	if gid != "" {
		tags = []smtypes.Tag{{Key: aws.String(TagKeyGroupID), Value: aws.String(gid)}}
	}
	out, err := b.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String(b.opts.SecretID),
		ClientRequestToken: aws.String(token),
		SecretString:       aws.String(string(value)),
		Description:        aws.String("cfgate CloudFront signing key: {keyPairId, privateKey, algorithm}; rotate with `keys rotate` (keys/RUNBOOK.md)"),
		Tags:               tags,
	})
	if apiCode(err) == "ResourceExistsException" {
		// The secret exists without a current value (created empty): give it one.
		_, err = b.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(b.opts.SecretID), ClientRequestToken: aws.String(token),
			SecretString: aws.String(string(value)), VersionStages: []string{string(Current)},
		})
		if err != nil {
			return fmt.Errorf("put secret value: %w", err)
		}
		if gid != "" {
			_, err = b.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(b.opts.SecretID),
				Tags: []smtypes.Tag{{Key: aws.String(TagKeyGroupID), Value: aws.String(gid)}}})
			if err != nil {
				return fmt.Errorf("tag secret: %w", err)
			}
		}
		_, err = b.describe(ctx)
		return err
	}
	if err != nil {
		return fmt.Errorf("create secret %s: %w", b.opts.SecretID, err)
	}
	b.mu.Lock()
	b.arn = aws.ToString(out.ARN)
	b.mu.Unlock()
	return nil
}

// Secret implements Backend. It always names the stage: moto (and any
// cache) may otherwise answer with a stale version.
func (b *AWS) Secret(ctx context.Context, stage Stage) (*Version, error) {
	out, err := b.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(b.opts.SecretID), VersionStage: aws.String(string(stage))})
	if err != nil {
		if apiCode(err) == "ResourceNotFoundException" {
			return nil, fmt.Errorf("secret %s stage %s: %w", b.opts.SecretID, stage, ErrNotFound)
		}
		return nil, fmt.Errorf("get secret %s stage %s: %w", b.opts.SecretID, stage, err)
	}
	b.mu.Lock()
	b.arn = aws.ToString(out.ARN)
	b.mu.Unlock()
	v := &Version{ID: aws.ToString(out.VersionId)}
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v.Secret); err != nil {
		// Never echo the value: it holds a private key.
		return nil, fmt.Errorf("secret %s stage %s is not the JSON {keyPairId, privateKey, algorithm}", b.opts.SecretID, stage)
	}
	if v.Secret.KeyPairID == "" {
		return nil, fmt.Errorf("secret %s stage %s has no keyPairId", b.opts.SecretID, stage)
	}
	return v, nil
}

// PutPending implements Backend.
func (b *AWS) PutPending(ctx context.Context, token string, s cfsign.Secret) error {
	value, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode secret: %w", err)
	}
	_, err = b.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(b.opts.SecretID), ClientRequestToken: aws.String(token),
		SecretString: aws.String(string(value)), VersionStages: []string{string(Pending)},
	})
	if err != nil {
		return fmt.Errorf("put pending version: %w", err)
	}
	return nil
}

func (b *AWS) stages(ctx context.Context) (map[string][]string, error) {
	d, err := b.describe(ctx)
	if err != nil {
		return nil, err
	}
	return d.VersionIdsToStages, nil
}

func versionWith(stages map[string][]string, stage Stage) string {
	for v, ss := range stages {
		for _, s := range ss {
			if s == string(stage) {
				return v
			}
		}
	}
	return ""
}

func hasStage(stages map[string][]string, version string, stage Stage) bool {
	for _, s := range stages[version] {
		if s == string(stage) {
			return true
		}
	}
	return false
}

// MakeCurrent implements Backend. Secrets Manager moves AWSPREVIOUS to the
// version that loses AWSCURRENT.
func (b *AWS) MakeCurrent(ctx context.Context, versionID string) error {
	stages, err := b.stages(ctx)
	if err != nil {
		return err
	}
	if cur := versionWith(stages, Current); cur != versionID {
		_, err := b.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(b.opts.SecretID), VersionStage: aws.String(string(Current)),
			MoveToVersionId: aws.String(versionID), RemoveFromVersionId: nilIfEmpty(cur),
		})
		if err != nil {
			return fmt.Errorf("move %s to version %s: %w", Current, versionID, err)
		}
	}
	if hasStage(stages, versionID, Pending) {
		return b.Unstage(ctx, Pending, versionID)
	}
	return nil
}

// Unstage implements Backend.
func (b *AWS) Unstage(ctx context.Context, stage Stage, versionID string) error {
	stages, err := b.stages(ctx)
	if err != nil {
		return err
	}
	if !hasStage(stages, versionID, stage) {
		return nil
	}
	_, err = b.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(b.opts.SecretID), VersionStage: aws.String(string(stage)), RemoveFromVersionId: aws.String(versionID),
	})
	if err != nil {
		return fmt.Errorf("remove %s from version %s: %w", stage, versionID, err)
	}
	return nil
}

// State implements Backend (tags on the secret).
func (b *AWS) State(ctx context.Context) (State, error) {
	d, err := b.describe(ctx)
	if err != nil {
		return State{}, err
	}
	var st State
	for _, t := range d.Tags {
		v := aws.ToString(t.Value)
		switch aws.ToString(t.Key) {
		case TagStep:
			st.Step = v
		case TagSigningKey:
			st.SigningKeyID = v
		case TagRetiringKey:
			st.RetiringKeyID = v
		case TagPromotedAt:
			if st.PromotedAt, err = parseTagTime(v); err != nil {
				return State{}, fmt.Errorf("secret tag %s=%q: %w", TagPromotedAt, v, err)
			}
		case TagAddedKey:
			st.AddedKeyID = v
		case TagAddedAt:
			if st.AddedAt, err = parseTagTime(v); err != nil {
				return State{}, fmt.Errorf("secret tag %s=%q: %w", TagAddedAt, v, err)
			}
		case TagGrace:
			if v != "" {
				if st.Grace, err = time.ParseDuration(v); err != nil || st.Grace < 0 {
					return State{}, fmt.Errorf("secret tag %s=%q: not a duration", TagGrace, v)
				}
			}
		}
	}
	return st, nil
}

func parseTagTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, v)
}

func tagTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// SetState implements Backend: the fields set become tags, the tags of
// empty fields are removed.
func (b *AWS) SetState(ctx context.Context, st State) error {
	values := map[string]string{
		TagStep: st.Step, TagSigningKey: st.SigningKeyID, TagRetiringKey: st.RetiringKeyID,
		TagPromotedAt: tagTime(st.PromotedAt), TagAddedKey: st.AddedKeyID, TagAddedAt: tagTime(st.AddedAt),
	}
	if st.Grace > 0 {
		values[TagGrace] = st.Grace.String()
	}
	var tags []smtypes.Tag
	var drop []string
	for _, k := range stateTags {
		if v := values[k]; v != "" {
			tags = append(tags, smtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
		} else {
			drop = append(drop, k)
		}
	}
	if len(tags) > 0 {
		if _, err := b.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(b.opts.SecretID), Tags: tags}); err != nil {
			return fmt.Errorf("tag secret: %w", err)
		}
	}
	if len(drop) > 0 {
		if _, err := b.sm.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(b.opts.SecretID), TagKeys: drop}); err != nil {
			return fmt.Errorf("untag secret: %w", err)
		}
	}
	return nil
}

var _ Backend = (*AWS)(nil)
