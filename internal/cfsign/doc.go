// Package cfsign issues CloudFront signed cookies and signed URLs for cfgate.
//
// A course grant is one custom policy with a single statement whose Resource is
// https://<domain>/courses/<id>/*; the course id and domain are validated before
// they get near a policy, because a '*' or '?' in Resource would widen the grant.
// Policies are encoded with the Policy type of
// github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign, and RSA-SHA1 signatures
// are made by that package; RSA-SHA256 and ECDSA-SHA256 (which that SDK version
// cannot emit) are signed here over the very same policy bytes.
//
// See https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-signed-cookies.html
package cfsign
