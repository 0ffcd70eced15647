package verifier

import (
	"net/http"
	"strconv"
)

// CloudFront's error codes for a signed request it refuses.
const (
	CodeMissingKey         = "MissingKey"
	CodeInvalidKey         = "InvalidKey"
	CodeMalformedSignature = "MalformedSignature"
	CodeMalformedPolicy    = "MalformedPolicy"
	CodeAccessDenied       = "AccessDenied"
)

// messages maps each code to CloudFront's message.
var messages = map[string]string{
	CodeMissingKey:         "Missing Key-Pair-Id query parameter or cookie value",
	CodeInvalidKey:         "Unknown Key",
	CodeMalformedSignature: "Could not unencode Signature",
	CodeMalformedPolicy:    "Malformed Policy",
	CodeAccessDenied:       "Access denied",
}

// Message returns CloudFront's message for an error code, or "" for an unknown code.
func Message(code string) string { return messages[code] }

// Decision is the verdict on one request.
type Decision struct {
	// Allowed is true when CloudFront would serve the request.
	Allowed bool
	// Code and Message are CloudFront's (empty when allowed).
	Code, Message string
	// Reason is the precise cause for the operator. It never contains a
	// signature, policy or cookie value.
	Reason string
	// KeyPairID is the key pair id the request named, if any.
	KeyPairID string
	// Source is "url", "cookie" or "" (no signing material).
	Source string
	// Policy is "canned", "custom" or "" (not determined).
	Policy string
}

func deny(code, reason string) Decision {
	return Decision{Code: code, Message: messages[code], Reason: reason}
}

// Body returns CloudFront's XML error document for a denied decision.
func (d Decision) Body() string {
	return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + d.Code + `</Code><Message>` + d.Message + `</Message></Error>`
}

// WriteError writes CloudFront's response to a denied request: status 403,
// Content-Type text/xml and the XML error document. It writes nothing for an
// allowed decision.
func (d Decision) WriteError(w http.ResponseWriter) {
	if d.Allowed {
		return
	}
	body := d.Body()
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(body))
}
