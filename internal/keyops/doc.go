// Package keyops is cfgate's signing-key lifecycle: init, rotation in AWS's
// order (start → wait for CloudFront to propagate the key group → promote →
// wait the grace period → finish, with abort and rollback), and status,
// written once against a small Backend with two implementations: AWS
// (CloudFront public keys and key group, Secrets Manager secret) and Local
// (the local distribution's state folder).
//
// A signing key is either generated here and kept in the secret, or made in
// AWS KMS (Ops.UseKMS, kms.go) so that its private key never leaves KMS: the
// secret then names the key, its public key comes from kms:GetPublicKey, and
// finish and abort schedule a retired KMS key's deletion once its public key
// has left the key group.
//
// Every step is idempotent and resumes a half-done step: it reads the state
// first and does only what is missing. Nothing a viewer holds stops working
// at any step before finish: promote waits for the propagation wait since
// start (Ops.Propagation) and finish for the grace period (Grace).
//
// See keys/RUNBOOK.md and
// https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-trusted-signers.html#private-content-rotating-key-pairs
package keyops
