// Package api is the HTTP API of the login Lambda as a plain http.Handler:
// login, session, logout, and access to a course, which sets the CloudFront
// signed cookies of that course after checking the session and the grant;
// a course's files (from its manifest, internal/materials) and download
// links, CloudFront signed URLs for one file; cookie-less playback: a
// playback URL, and the playlist route that serves a course's playlists
// with every URI rewritten to carry that URL's signature (playback.go).
//
// Routes are a table (routes.go). Every route under /api/courses/{id}/ is a
// course route: it runs only after checkCourse (course.go) has checked, in
// order, the route's own path parameters, the course id, the session, the
// account, the catalogue and the grant.
//
// The contract (routes, statuses, bodies) is the table "The login API" in the
// repository's README; the Lambda adapter (internal/lambdahttp) and the local
// distribution serve this same handler.
//
// Security decisions, in one place:
//
//   - Signing a cookie is granting access: /access validates the course id
//     on the still-escaped path segment (cfsign.ValidateCourseID), requires a
//     live session of an enabled user, a course in the catalogue and an
//     active grant, and only then asks the key provider and signs. Any
//     failure answers without a CloudFront cookie; a failing key provider
//     answers 503 (fail closed).
//   - A download link is a canned-policy signed URL for exactly
//     courses/<id>/files/<name>, a name the course's manifest lists, valid
//     for Config.DownloadLinkTTL and never past the grant's or the
//     session's end.
//   - A playback URL carries the course policy (Resource
//     https://<domain>/courses/<id>/*) as signed URL parameters, signed by
//     the cookie issuer for Config.PlaybackTTL and never past the grant's or
//     the session's end. The playlist route (GET /api/play/{course}/{path})
//     has no session: it checks the query with distribution/verifier exactly
//     as CloudFront would for https://<domain>/courses/<id>/<path>, against
//     Config.TrustedKeys (503 when they cannot be read), answers a refusal
//     with CloudFront's 403, and serves a playlist only when
//     internal/hlsrewrite accepts every URI in it (502 otherwise). The
//     query is never logged.
//   - CSRF: an Origin header, when present, must be one of
//     Config.AllowedOrigins (403 otherwise); a request with a body must be
//     Content-Type application/json (415), at most Config.MaxBodyBytes (413),
//     and strictly decoded (unknown fields and trailing data are 400).
//   - Sessions: a random 256-bit id in the cookie cfgate_session
//     (HttpOnly, Secure, SameSite=Strict, Path=/api/); the store keeps only
//     the SHA-256 hex of the cookie value. At most Config.MaxSessions
//     (default 3) active sessions per account: a login past it deletes the
//     account's oldest. /access and /session refresh a session's LastSeen
//     at most every TouchInterval, in a goroutine alongside the request's
//     other store calls that is joined before the response.
//   - The user hint: a second cookie, cfgate_user, with the session
//     cookie's attributes, names the session's user (sealed under a key
//     derived from the session token; hint.go), so that a course route
//     reads the session, the user and the grant in one round trip. It is
//     not trusted: what is read with it counts only if the session is that
//     user's.
//   - Login answers 401 with one body for an unknown user, a disabled user
//     and a wrong password, and does the argon2id work in each case
//     (password.DummyVerify for unknown users). Attempts are counted for
//     known and unknown accounts alike (so 429 does not reveal which
//     accounts exist), atomically and before any password work, in two
//     counters: per account and source (the viewer's address, an IPv6
//     address by its /64) and per account. LockoutThreshold failures from
//     one source make that source's logins of the account answer 429, the
//     right password included, until its window passes; other sources are
//     not affected and a refused attempt does not count further.
//     LockoutAccountThreshold failures from all sources together lock the
//     account everywhere for the rest of that window. A success clears its
//     source's counter and takes its attempt back from the account's.
//   - Only the distribution reaches the handler: with Config.OriginVerifier
//     set, a request without the current X-Cfgate-Origin-Verify value (which
//     CloudFront adds to every /api/* origin request) answers 403 before
//     routing and before the store. The viewer's address is then taken from
//     CloudFront-Viewer-Address; without that proof the header is ignored and
//     the connection's address counts.
//   - Errors are {"error":"<short text>"} (the playlist route's signature
//     refusals excepted: CloudFront's XML); the status is decided in one
//     place (errors.go) and internal detail goes to the log only.
//   - Logs never carry passwords, cookie values, session ids or signatures.
//     Emails are logged as "user", the first 16 hex digits of their SHA-256:
//     pseudonymous (it lets an operator correlate the lines of one account
//     and check a known address), not anonymous (a guessed address can be
//     confirmed by hashing it).
//   - Every access decision and every login outcome writes one CloudWatch
//     Embedded Metric Format line (namespace cfgate, metrics AccessDecision
//     and LoginDecision, dimension Decision, property Reason) to
//     Config.Metrics.
package api
