package verifier

import "strings"

// Sections of a request URL (see the package documentation).
const (
	secScheme = iota
	secHost   // "://" + host
	secPath   // from the leading "/"
	secQuery  // from the "?"
)

// target is a request URL split into sections.
type target struct {
	s                           string
	hostStart, pathStart, query int // offsets; query == len(s) when there is no query
}

func newTarget(scheme, host, path, rawQuery string, hasQuery bool) target {
	var b strings.Builder
	b.Grow(len(scheme) + 3 + len(host) + len(path) + 1 + len(rawQuery))
	b.WriteString(scheme)
	t := target{hostStart: b.Len()}
	b.WriteString("://")
	b.WriteString(host)
	t.pathStart = b.Len()
	b.WriteString(path)
	t.query = b.Len()
	if hasQuery {
		b.WriteByte('?')
		b.WriteString(rawQuery)
	}
	t.s = b.String()
	return t
}

func (t *target) section(i int) int {
	switch {
	case i < t.hostStart:
		return secScheme
	case i < t.pathStart:
		return secHost
	case i < t.query:
		return secPath
	default:
		return secQuery
	}
}

// MatchResource reports whether the policy Resource pattern matches the
// absolute request URL u (scheme://host/path[?query]) by the rules in the
// package documentation.
func MatchResource(pattern, u string) bool {
	t, ok := splitURL(u)
	if !ok {
		return false
	}
	return matchTarget(pattern, &t)
}

func splitURL(u string) (target, bool) {
	i := strings.Index(u, "://")
	if i < 0 {
		return target{}, false
	}
	rest := u[i+3:]
	j := strings.IndexByte(rest, '/')
	if j < 0 {
		return target{}, false
	}
	path := rest[j:]
	q, hasQ := "", false
	if k := strings.IndexByte(path, '?'); k >= 0 {
		path, q, hasQ = path[:k], path[k+1:], true
	}
	return newTarget(u[:i], rest[:j], path, q, hasQ), true
}

func matchTarget(pattern string, t *target) bool {
	if pattern == "*" {
		return true
	}
	m := matcher{p: withProtocol(pattern), t: t}
	return m.match(0, 0)
}

// withProtocol applies the Developer Guide's rule for a Resource that omits
// the protocol and starts with an asterisk in the domain section: the protocol
// is "*", and with no path the path is "/" ("*example.com" is
// "*://*example.com/"). Any other pattern is returned as is.
func withProtocol(p string) string {
	if p == "" || p[0] != '*' {
		return p
	}
	slash := strings.IndexByte(p, '/')
	if i := strings.Index(p, "://"); i >= 0 && slash == i+1 {
		return p // the protocol section is there ("*://…", "*s://…")
	}
	p = "*://" + p
	if slash < 0 && p[len(p)-1] != '*' {
		p += "/" // a trailing '*' in the domain covers any path and query
	}
	return p
}

type matcher struct {
	p      string
	t      *target
	failed map[[2]int]bool // (pattern index of a '*', url index) known not to match
}

func (m *matcher) match(pi, si int) bool {
	p, s := m.p, m.t.s
	for pi < len(p) {
		switch c := p[pi]; c {
		case '*':
			sec := secScheme
			if si > 0 {
				sec = m.t.section(si - 1)
			}
			if pi == len(p)-1 {
				// A trailing '*' covers the rest of its section; in the path it
				// also covers the query, and in the domain (after the whole
				// "://") the path and the query. In the scheme it covers only
				// the scheme, so it matches nothing.
				switch sec {
				case secHost:
					return si >= m.t.hostStart+len("://")
				case secPath, secQuery:
					return true
				default:
					return m.sectionEnd(sec) == len(s)
				}
			}
			key := [2]int{pi, si}
			if m.failed[key] {
				return false
			}
			end := m.sectionEnd(sec)
			for k := si; k <= end; k++ {
				if m.match(pi+1, k) {
					return true
				}
			}
			if m.failed == nil {
				m.failed = make(map[[2]int]bool)
			}
			m.failed[key] = true
			return false
		case '?':
			// One character of the section it stands in; the query separator
			// itself is allowed so that a literal query ("a.ts?v=1") matches.
			if si >= len(s) || si > 0 && si != m.t.query && m.t.section(si) != m.t.section(si-1) {
				return false
			}
		default:
			if si >= len(s) || s[si] != c {
				return false
			}
		}
		pi++
		si++
	}
	return si == len(s)
}

// sectionEnd returns the offset just past section sec.
func (m *matcher) sectionEnd(sec int) int {
	switch sec {
	case secScheme:
		return m.t.hostStart
	case secHost:
		return m.t.pathStart
	case secPath:
		return m.t.query
	default:
		return len(m.t.s)
	}
}
