package core

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckTopic(t *testing.T) {
	cases := []struct {
		topic string
		ok    bool
	}{
		{"a", true},
		{"news", true},
		{"ABCxyz019_-.:/", true},
		{"user/42:orders.v2", true},
		{strings.Repeat("t", MaxTopicLen), true},
		{"", false},
		{strings.Repeat("t", MaxTopicLen+1), false},
		{"with space", false},
		{"tab\t", false},
		{"é", false},
		{"a*b", false},
		{"a\"b", false},
		{"a\\b", false},
		{"nul\x00", false},
		{"new\nline", false},
		{"{json}", false},
		{"a,b", false},
	}
	for _, tc := range cases {
		err := CheckTopic(tc.topic)
		if tc.ok {
			assert.NoError(t, err, "CheckTopic(%q)", tc.topic)
			continue
		}
		if assert.Error(t, err, "CheckTopic(%q)", tc.topic) {
			assert.True(t, errors.Is(err, ErrBadTopic), "CheckTopic(%q) wraps ErrBadTopic: %v", tc.topic, err)
		}
	}
}
