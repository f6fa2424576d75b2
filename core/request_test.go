package core

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDecodeRequest(t *testing.T) {
	cases := []struct {
		name string
		msg  string
		want Request
		err  string // substring of the error; "" = no error
	}{
		// valid operations
		{"subscribe", `{"code":1,"topic":"news"}`, Request{Code: OpSubscribe, Topic: "news"}, ""},
		{"unsubscribe", `{"code":2,"topic":"news"}`, Request{Code: OpUnsubscribe, Topic: "news"}, ""},
		{"login", `{"code":3,"data":"tok.en"}`, Request{Code: OpLogin, Cred: "tok.en"}, ""},
		{"login with escapes", `{"code":3,"data":"a\"b\u00e9"}`, Request{Code: OpLogin, Cred: "a\"bé"}, ""},
		{"login with empty credential", `{"code":3,"data":""}`, Request{Code: OpLogin}, ""},
		{"logout", `{"code":4}`, Request{Code: OpLogout}, ""},
		{"subscribe private", `{"code":5,"topic":"orders"}`, Request{Code: OpSubscribePrivate, Topic: "orders"}, ""},
		{"unsubscribe private", `{"code":6,"topic":"orders"}`, Request{Code: OpUnsubscribePriv, Topic: "orders"}, ""},
		{"whitespace and key order", " {\n\"topic\" : \"t\",\t\"code\" : 1 } ", Request{Code: OpSubscribe, Topic: "t"}, ""},
		{"data ignored outside login", `{"code":1,"topic":"t","data":{"x":1}}`, Request{Code: OpSubscribe, Topic: "t"}, ""},
		{"unknown fields ignored", `{"code":4,"extra":[1,2]}`, Request{Code: OpLogout}, ""},

		// id: echoed verbatim, compacted
		{"id number", `{"code":1,"topic":"t","id":17}`, Request{Code: OpSubscribe, Topic: "t", ID: json.RawMessage(`17`)}, ""},
		{"id float", `{"code":1,"topic":"t","id":1.5e3}`, Request{Code: OpSubscribe, Topic: "t", ID: json.RawMessage(`1.5e3`)}, ""},
		{"id string", `{"code":1,"topic":"t","id":"req-1"}`, Request{Code: OpSubscribe, Topic: "t", ID: json.RawMessage(`"req-1"`)}, ""},
		{"id absent", `{"code":1,"topic":"t"}`, Request{Code: OpSubscribe, Topic: "t"}, ""},
		{"id null is absent", `{"code":1,"topic":"t","id":null}`, Request{Code: OpSubscribe, Topic: "t"}, ""},
		{"id compacted", "{\"code\":4,\"id\": { \"a\" : [ 1 , \"x y\" ] } }", Request{Code: OpLogout, ID: json.RawMessage(`{"a":[1,"x y"]}`)}, ""},

		// malformed JSON: nothing can be read, code 0
		{"truncated", `{"code":1`, Request{}, "malformed JSON"},
		{"not JSON", `hello`, Request{}, "malformed JSON"},
		{"empty", ``, Request{}, "malformed JSON"},
		{"array", `[1,2]`, Request{}, "malformed JSON"},
		{"string", `"code"`, Request{}, "malformed JSON"},
		{"number", `1`, Request{}, "malformed JSON"},
		{"trailing garbage", `{"code":1,"topic":"t"} x`, Request{}, "malformed JSON"},
		{"bad id syntax", `{"code":1,"id":01}`, Request{}, "malformed JSON"},

		// code problems: what could be read is kept
		{"missing code", `{"topic":"t","id":3}`, Request{Topic: "t", ID: json.RawMessage(`3`)}, "missing code"},
		{"code as string", `{"code":"1","topic":"t","id":4}`, Request{Topic: "t", ID: json.RawMessage(`4`)}, "code must be an integer"},
		{"code as float", `{"code":1.5,"id":4}`, Request{ID: json.RawMessage(`4`)}, "code must be an integer"},
		{"code too large", `{"code":99999999999999999999,"id":4}`, Request{ID: json.RawMessage(`4`)}, "code must be an integer"},
		{"unknown code 0", `{"code":0,"id":5}`, Request{ID: json.RawMessage(`5`)}, "unknown code 0"},
		{"unknown code 7", `{"code":7,"topic":"t","id":5}`, Request{Topic: "t", ID: json.RawMessage(`5`)}, "unknown code 7"},
		{"unknown code -1", `{"code":-1}`, Request{}, "unknown code -1"},

		// login data must be a string
		{"login data number", `{"code":3,"data":5,"id":6}`, Request{Code: OpLogin, ID: json.RawMessage(`6`)}, "credential string"},
		{"login data object", `{"code":3,"data":{"t":"x"}}`, Request{Code: OpLogin}, "credential string"},
		{"login data missing", `{"code":3}`, Request{Code: OpLogin}, "credential string"},
		{"login data null", `{"code":3,"data":null,"id":6}`, Request{Code: OpLogin, ID: json.RawMessage(`6`)}, "credential string"},

		// a field of the wrong type: code and id are still echoed
		{"topic not a string", `{"code":1,"topic":5,"id":9}`, Request{Code: OpSubscribe, ID: json.RawMessage(`9`)}, "topic must be a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tc.msg))
			if tc.err == "" {
				assert.NoError(t, err, "a valid request")
			} else if assert.Error(t, err, "an invalid request") {
				assert.Contains(t, err.Error(), tc.err, "the error says what is wrong")
			}
			assert.Equal(t, tc.want, got, "the request as decoded")
		})
	}
}

func TestOpProperties(t *testing.T) {
	cases := []struct {
		op           Op
		login, topic bool
	}{
		{OpSubscribe, false, true},
		{OpUnsubscribe, false, true},
		{OpLogin, false, false},
		{OpLogout, true, false},
		{OpSubscribePrivate, true, true},
		{OpUnsubscribePriv, true, true},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.login, tc.op.NeedsLogin(), "op %d NeedsLogin", tc.op)
		assert.Equal(t, tc.topic, tc.op.NeedsTopic(), "op %d NeedsTopic", tc.op)
	}
}

func TestMayBlock(t *testing.T) {
	cases := map[string]bool{
		`{"code":3,"data":"tok"}`:   true,
		`{"code":3,"data":5}`:       false, // answered 400 without asking anyone
		`{"code":1,"topic":"news"}`: false,
		`{"code":4}`:                false,
		`ping`:                      false,
		`{"data":"code"}`:           false,
		`not json with code`:        false,
	}
	for msg, want := range cases {
		r, err := DecodeRequest([]byte(msg)) // what Conn.Parse hands to Apply
		assert.Equal(t, want, err == nil && r.MayBlock(), "MayBlock(%s)", msg)
	}
}
