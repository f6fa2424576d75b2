package core

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPushTarget(t *testing.T) {
	assert.Equal(t, TargetAll, Push{}.Target(), "no uid, no topic: every connection")
	assert.Equal(t, TargetTopic, Push{Topic: "t"}.Target(), "topic: public channel")
	assert.Equal(t, TargetUser, Push{UID: "u", Topic: "t"}.Target(), "uid and topic: private channel")
	assert.Equal(t, "all", TargetAll.String(), "label of TargetAll")
	assert.Equal(t, "topic", TargetTopic.String(), "label of TargetTopic")
	assert.Equal(t, "user", TargetUser.String(), "label of TargetUser")
}

func TestPushCheck(t *testing.T) {
	const limit = 16
	cases := []struct {
		name   string
		push   Push
		max    int
		err    string // substring; "" = valid
		isBadT bool   // wraps ErrBadTopic
	}{
		{"broadcast", Push{Data: []byte("x")}, limit, "", false},
		{"public", Push{Topic: "news", Data: []byte("x")}, limit, "", false},
		{"private", Push{UID: "alice", Topic: "orders", Data: []byte("x")}, limit, "", false},
		{"payload at the limit", Push{Topic: "t", Data: make([]byte, limit)}, limit, "", false},
		{"empty payload", Push{Topic: "t"}, limit, "", false},
		{"no limit", Push{Data: make([]byte, 1<<20)}, 0, "", false},
		{"uid without topic", Push{UID: "alice", Data: []byte("x")}, limit, "without a topic", false},
		{"oversize", Push{Topic: "t", Data: make([]byte, limit+1)}, limit, "over the limit", false},
		{"bad topic", Push{Topic: "no spaces", Data: []byte("x")}, limit, "invalid topic", true},
		{"bad private topic", Push{UID: "u", Topic: strings.Repeat("t", MaxTopicLen+1)}, limit, "invalid topic", true},
		{"uid too long", Push{UID: strings.Repeat("u", MaxUIDLen+1), Topic: "t"}, limit, "uid longer", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.push.Check(tc.max)
			if tc.err == "" {
				assert.NoError(t, err, "a valid push")
				return
			}
			if !assert.Error(t, err, "an invalid push") {
				return
			}
			assert.True(t, errors.Is(err, ErrInvalidPush), "wraps ErrInvalidPush: %v", err)
			assert.Equal(t, tc.isBadT, errors.Is(err, ErrBadTopic), "wraps ErrBadTopic: %v", err)
			assert.Contains(t, err.Error(), tc.err, "says what is wrong")
		})
	}
}
