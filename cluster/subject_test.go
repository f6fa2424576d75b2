package cluster

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
)

var (
	oddTopics = []string{"", ".", "..", "...", ".a", "a.", "a..b", "a.b", "a:b", "a/b", "a", "A-_b", "all", "t", "u", "t.a", "u.a.b"}
	oddUIDs   = []string{"", "a", "a.b", "a b", "*", ">", "a.*", "a.>", "%", "%2E", "a%b", "\t", "é", "\xff", "t", "u", "all", " "}
)

// oddSubs are every target made of oddTopics and oddUIDs that a push or a
// subscription can name: Sub{} is push-to-all; a uid needs a topic.
func oddSubs() []core.Sub {
	var subs []core.Sub
	for _, uid := range oddUIDs {
		for _, topic := range oddTopics {
			if uid == "" || topic != "" {
				subs = append(subs, core.Sub{UID: uid, Topic: topic})
			}
		}
	}
	return subs
}

// validSubject reports whether s is a literal NATS subject: non-empty
// tokens, no wildcard, no white space, printable ASCII.
func validSubject(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
	}
	return strings.IndexFunc(s, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) || unicode.IsSpace(r) }) < 0
}

func TestSubjectsOneToOne(t *testing.T) {
	for _, prefix := range []string{"", "gpush", "app.gpush-2"} {
		m, err := newSubjects(prefix)
		require.NoError(t, err)
		seen := map[string]core.Sub{}
		for _, s := range oddSubs() {
			subject := m.of(s)
			assert.True(t, validSubject(subject), "%+v -> %q is a literal subject", s, subject)
			if prev, dup := seen[subject]; dup {
				t.Errorf("%+v and %+v share subject %q", prev, s, subject)
			}
			seen[subject] = s
			back, ok := m.parse(subject)
			assert.True(t, ok, "%q parses", subject)
			assert.Equal(t, s, back, "%q parses back", subject)
		}
	}
}

func TestSubjectsReadable(t *testing.T) {
	m, err := newSubjects("")
	require.NoError(t, err)
	assert.Equal(t, "gpush.all", m.of(core.Sub{}))
	assert.Equal(t, "gpush.t.news", m.of(core.Sub{Topic: "news"}))
	assert.Equal(t, "gpush.t.a%2Eb:c/d", m.of(core.Sub{Topic: "a.b:c/d"}))
	assert.Equal(t, "gpush.u.a%20%2A%3E.inbox", m.of(core.Sub{UID: "a *>", Topic: "inbox"}))
}

func TestSubjectsRefuseOthers(t *testing.T) {
	m, err := newSubjects("")
	require.NoError(t, err)
	for _, s := range []string{"gpush", "gpush.", "gpush.all.x", "gpush.t", "gpush.t.", "gpush.t.a.b", "gpush.t.a%2e",
		"gpush.t.%61", "gpush.t.a%2", "gpush.t.a%ZZ", "gpush.u.a", "gpush.u..b", "gpush.u.a.b.c", "gpush.x.a", "other.t.a", "gpushx.t.a"} {
		_, ok := m.parse(s)
		assert.False(t, ok, "%q is no subject of ours", s)
	}
	for _, p := range []string{".", "a.", ".a", "a..b", "a b", "a*", "a>", "a:b"} {
		_, err := newSubjects(p)
		assert.ErrorIs(t, err, ErrBadPrefix, "prefix %q", p)
	}
}

// FuzzSubjects: any uid and topic map to a literal subject that parses
// back to them, so no two targets share a subject.
func FuzzSubjects(f *testing.F) {
	for _, uid := range oddUIDs {
		f.Add(uid, "a.b")
	}
	for _, topic := range oddTopics {
		f.Add("u.v", topic)
	}
	m, _ := newSubjects("")
	f.Fuzz(func(t *testing.T, uid, topic string) {
		if uid != "" && topic == "" {
			return
		}
		s := core.Sub{UID: uid, Topic: topic}
		subject := m.of(s)
		if !validSubject(subject) {
			t.Fatalf("%+v -> %q is not a literal subject", s, subject)
		}
		if back, ok := m.parse(subject); !ok || back != s {
			t.Fatalf("%q parses to %+v, %v; want %+v", subject, back, ok, s)
		}
	})
}
