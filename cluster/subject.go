package cluster

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gpush/gpush/core"
)

// ErrBadPrefix: the subject prefix is not a dot-separated list of tokens
// of A-Z a-z 0-9 _ -.
var ErrBadPrefix = errors.New("cluster: bad subject prefix")

// DefaultPrefix is the subject prefix when Config.Prefix is empty.
const DefaultPrefix = "gpush"

// subjects maps a delivery target to its NATS subject, one to one:
//
//	<prefix>.all               push to every connection (core.Sub{})
//	<prefix>.t.<topic>         public channel topic
//	<prefix>.u.<uid>.<topic>   private channel topic of user uid
//
// uid and topic are escaped into one token each (escape), so that every
// topic and every user id (which may hold '.', '*', '>', spaces or any
// byte) maps to a valid literal subject, and two different targets never
// share one. The kind token (all, t, u) and the token count tell the three
// forms apart.
type subjects struct {
	prefix string // with its trailing '.'
}

func newSubjects(prefix string) (subjects, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	for _, tok := range strings.Split(prefix, ".") {
		if tok == "" || strings.IndexFunc(tok, func(r rune) bool { return !plainByte(r) || r == ':' || r == '/' }) >= 0 {
			return subjects{}, fmt.Errorf("%w: %q", ErrBadPrefix, prefix)
		}
	}
	return subjects{prefix: prefix + "."}, nil
}

// of returns the subject of s: Sub{} is push-to-all.
func (m subjects) of(s core.Sub) string {
	switch {
	case s.UID != "":
		return m.prefix + "u." + escape(s.UID) + "." + escape(s.Topic)
	case s.Topic != "":
		return m.prefix + "t." + escape(s.Topic)
	}
	return m.prefix + "all"
}

// parse inverts of; ok is false for a subject of is never returned.
func (m subjects) parse(subject string) (s core.Sub, ok bool) {
	rest, ok := strings.CutPrefix(subject, m.prefix)
	if !ok {
		return s, false
	}
	kind, rest, _ := strings.Cut(rest, ".")
	switch kind {
	case "all":
		return s, rest == "" && !strings.HasSuffix(subject, ".")
	case "t":
		s.Topic, ok = unescape(rest)
		return s, ok && s.Topic != ""
	case "u":
		uid, topic, found := strings.Cut(rest, ".")
		var ok2 bool
		s.UID, ok = unescape(uid)
		s.Topic, ok2 = unescape(topic)
		return s, found && ok && ok2 && s.UID != "" && s.Topic != ""
	}
	return s, false
}

// plainByte reports whether b stands for itself in a token: A-Z a-z 0-9
// _ - : /. Everything else, '%' and '.' included, is written %XX.
func plainByte[B byte | rune](b B) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	return b == '_' || b == '-' || b == ':' || b == '/'
}

const hexDigits = "0123456789ABCDEF"

// escape writes s as one non-empty subject token: plain bytes as they are,
// every other byte as '%' and two upper-case hex digits. The empty string
// (never a valid topic or uid) is "%".
func escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			n++
		}
	}
	if n == 0 && s != "" {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n + 1)
	if s == "" {
		b.WriteByte('%')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plainByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// unescape inverts escape; ok is false for a token escape never returns.
func unescape(tok string) (string, bool) {
	if tok == "" || tok == "%" {
		return "", tok == "%"
	}
	if !strings.Contains(tok, "%") {
		return tok, strings.IndexFunc(tok, func(r rune) bool { return !plainByte(r) }) < 0
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if plainByte(c) {
			b = append(b, c)
			continue
		}
		if c != '%' || i+2 >= len(tok) {
			return "", false
		}
		hi, lo := strings.IndexByte(hexDigits, tok[i+1]), strings.IndexByte(hexDigits, tok[i+2])
		if hi < 0 || lo < 0 || plainByte(byte(hi<<4|lo)) {
			return "", false
		}
		b = append(b, byte(hi<<4|lo))
		i += 2
	}
	return string(b), true
}
