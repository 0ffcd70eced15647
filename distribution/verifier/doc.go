// Package verifier decides on a signed request exactly as CloudFront does for a
// cache behavior with trusted key groups: signed URL parameters first, then
// signed cookies; canned and custom policies; RSA-2048 (PKCS#1 v1.5) and
// ECDSA P-256 (DER) keys; SHA-1 and SHA-256. A denial carries CloudFront's
// error code and message (what the viewer sees) and a precise reason for the
// operator (what CloudFront never says). The rules follow the CloudFront
// Developer Guide's pages on signed URLs and cookies (canned and custom
// policies), trusted key groups and troubleshooting signed requests:
// https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/PrivateContent.html.
//
// # The custom-policy pages, rule by rule
//
// The Developer Guide pages "Create a signed URL using a custom policy" (URL)
// and "Set signed cookies using a custom policy" (cookie) state these rules;
// each has table cases (cases_test.go, testdata/cases.json; TestMatchResource
// and TestParsePolicy in unit_test.go):
//
//   - URL parameters Policy, Signature, Key-Pair-Id and the optional
//     Hash-Algorithm, in any order with the viewer's own parameters (URL);
//     cookies CloudFront-Policy, CloudFront-Signature, CloudFront-Key-Pair-Id
//     and the optional CloudFront-Hash-Algorithm (cookie). Hash-Algorithm is
//     SHA1 (the default) or SHA256.
//   - The key pair id names a public key of a key group the behavior trusts.
//   - Policy and signature are base64 with - _ ~ in place of + = /.
//   - The policy: one statement; UTF-8; names exactly as written (no
//     abbreviations); Condition members in any order; one Resource value.
//   - Resource is optional in both: omitted, it allows any URL. It is the URL
//     with the viewer's own query (no "?" without one, the "?" not escaped),
//     without the signing parameters. Protocol http://, https:// or *://;
//     "*" any run and "?" one character within a section (protocol, domain,
//     path, query), with the section exceptions listed under Resource
//     matching below. An alternate domain in Resource must be the request's.
//   - DateLessThan is required, Unix seconds, unquoted; the request must come
//     before it. DateGreaterThan is optional, same format; the request must
//     come after it (not at it).
//   - IpAddress is optional: one IPv4 address or one IPv4 CIDR range in
//     AWS:SourceIp (a single address as /32); IPv6 is not supported (an IPv6
//     value in the policy is malformed; an IPv6 viewer does not match).
//
// Where the pages and a strict reading differ, the verifier takes the reading
// that keeps the two pages one rule set:
//
//   - The pages tell the signer to remove whitespace from the policy, but the
//     URL page's own example Policy carries line breaks: whitespace between
//     JSON tokens is accepted (the signature covers the exact bytes).
//   - The cookie page lists only http:// and https:// as protocols but allows
//     wildcards anywhere in the string; both sources get the URL page's
//     matching ("*://", "http*://" and the section exceptions).
//   - The cookie page's signing step names RSA; ECDSA keys (the key groups
//     page, the URL page) are accepted for cookies too.
//
// # Choices where CloudFront's documentation is silent
//
// CloudFront documents the wire format and the error messages, not every
// corner. Where it is silent the verifier fails closed (denies) and says so in
// the Decision's Reason:
//
//   - Parameter and cookie names are case-sensitive (a "signature" query
//     parameter is the origin's, not CloudFront's).
//   - Duplicated cookie names: the first cookie in header order wins (browsers
//     send the cookie with the longest Path first). Duplicated URL parameters:
//     the first wins too.
//   - Both a policy and an expiry (Policy and Expires, or CloudFront-Policy and
//     CloudFront-Expires): the custom policy is used.
//   - No signing material at all, or an empty key pair id: MissingKey.
//   - A key pair id but no (or an empty) signature: AccessDenied (an empty
//     signature decodes and then fails verification).
//   - A key pair id and a signature but neither a policy nor an expiry:
//     MalformedPolicy. A canned Expires that is not a decimal integer:
//     MalformedPolicy.
//   - Hash-Algorithm other than SHA1 or SHA256 (exact case): AccessDenied.
//     ECDSA keys require SHA256.
//   - Base64: CloudFront's alphabet (- _ ~ for + = /) and the standard one are
//     both decoded (CloudFront maps the three characters back and decodes);
//     padding is required and trailing bits must be zero.
//   - Order of checks: key pair id present, key known (InvalidKey), signature
//     decodes (MalformedSignature), policy decodes and parses
//     (MalformedPolicy), signature verifies (AccessDenied), then the
//     conditions (AccessDenied).
//   - The policy is parsed strictly: a JSON object whose only member is
//     "Statement", an array of exactly one object with members "Resource"
//     (optional string) and "Condition" (required object) whose members are
//     "DateLessThan" (required), "DateGreaterThan" and "IpAddress". Epoch
//     times are unquoted non-negative integers; AWS:SourceIp is an IPv4 CIDR
//     or a bare IPv4 address (the same as /32). Unknown or duplicated
//     members, quoted times, fractions and exponents, IPv6 values, bytes that
//     are not UTF-8 and trailing data are MalformedPolicy. Whitespace between JSON tokens is allowed (AWS's own
//     examples carry line breaks).
//
// # Resource matching
//
// The request URL is scheme "://" host path ["?" query], with the host as the
// viewer sent it (port included) and the path and query exactly as sent, not
// re-encoded; for a signed URL the query is taken without the signing
// parameters (Expires, Policy, Signature, Key-Pair-Id, Hash-Algorithm), the
// rest kept in order. Sections are the scheme, "://"+host, the path (from its
// leading "/") and the query (from its "?"). In Resource, "?" matches exactly
// one character of the section it stands in (the query separator also matches
// itself, so a literal query "a.ts?v=1" works) and "*" matches any run of
// characters within the section of the character before it: a "*" in the host
// never reaches the path ("https://*.example.com/a" does not match
// "https://evil.test/x.example.com/a"), and "http*://" covers http and https.
// The section exceptions of "Create a signed URL using a custom policy":
//
//   - a "*" that ends the pattern in the path also covers any query string;
//   - a "*" that ends the pattern in the domain also covers any path and query
//     ("https://*" is any https URL, "https://example.com*" any URL on a host
//     that starts with example.com);
//   - a pattern that omits the protocol and starts with "*" has the protocol
//     "*" and, without a path, the path "/" ("*example.com" is
//     "*://*example.com/");
//   - a Resource of exactly "*", or no Resource, matches any URL.
//
// A "*" that ends the pattern in the scheme ("https*") matches nothing.
// Matching is case-sensitive. A pattern with a host and no path
// ("https://example.com") matches nothing: a request always has a path.
//
// # Cache
//
// A Verifier keeps a bounded cache of verified (key pair id, public key, hash
// algorithm, policy, signature) with the parsed policy. The key is looked up in
// the Keys on every request before the cache, so removing a key denies at once,
// and a replaced key under the same id misses the cache. Time, source IP and
// resource are checked on every request.
package verifier
