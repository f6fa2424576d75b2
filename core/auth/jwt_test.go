package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
)

var secret = []byte("test-secret-0123456789")

func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, claims).SignedString(key)
	require.NoError(t, err, "signing a test token")
	return tok
}

func TestJWT(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err, "RSA key")
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	at := jwt.NewNumericDate
	cases := []struct {
		name    string
		token   string
		uid     string
		expires time.Time
		err     error  // errors.Is target, or nil
		refused bool   // an error is expected
		text    string // substring of the error
	}{
		{name: "valid, no exp", token: sign(t, jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "alice"}),
			uid: "alice"},
		{name: "valid with exp", token: sign(t, jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "bob", ExpiresAt: at(exp)}),
			uid: "bob", expires: exp},
		{name: "expired", token: sign(t, jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "alice", ExpiresAt: at(time.Now().Add(-time.Minute))}),
			refused: true, err: core.ErrExpired},
		{name: "not valid yet", token: sign(t, jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "alice", NotBefore: at(time.Now().Add(time.Hour))}),
			refused: true, text: "invalid token"},
		{name: "wrong secret", token: sign(t, jwt.SigningMethodHS256, []byte("other"), jwt.RegisteredClaims{Subject: "alice"}),
			refused: true, err: jwt.ErrTokenSignatureInvalid},
		{name: "expired with wrong secret is not reported as expired", token: sign(t, jwt.SigningMethodHS256, []byte("other"),
			jwt.RegisteredClaims{Subject: "alice", ExpiresAt: at(time.Now().Add(-time.Minute))}),
			refused: true, err: jwt.ErrTokenSignatureInvalid},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.RegisteredClaims{Subject: "alice"}),
			refused: true, text: "invalid token"},
		{name: "HS512 with the right secret", token: sign(t, jwt.SigningMethodHS512, secret, jwt.RegisteredClaims{Subject: "alice"}),
			refused: true, text: "signing method HS512 is invalid"},
		{name: "HS384 with the right secret", token: sign(t, jwt.SigningMethodHS384, secret, jwt.RegisteredClaims{Subject: "alice"}),
			refused: true, text: "signing method HS384 is invalid"},
		{name: "RS256", token: sign(t, jwt.SigningMethodRS256, rsaKey, jwt.RegisteredClaims{Subject: "alice"}),
			refused: true, text: "signing method RS256 is invalid"},
		{name: "no sub", token: sign(t, jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Issuer: "me"}),
			refused: true, text: "no sub"},
		{name: "not a token", token: "hello", refused: true, text: "invalid token"},
		{name: "empty", token: "", refused: true, text: "invalid token"},
		{name: "tampered payload", token: tamper(t, sign(t, jwt.SigningMethodHS256, secret, jwt.RegisteredClaims{Subject: "alice"})),
			refused: true, err: jwt.ErrTokenSignatureInvalid},
	}
	j := JWT{Secret: secret}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := j.Authenticate(context.Background(), tc.token)
			if !tc.refused {
				require.NoError(t, err, "a valid token")
				assert.Equal(t, tc.uid, id.UID, "sub is the uid")
				assert.True(t, tc.expires.Equal(id.Expires), "Expires %v, want %v", id.Expires, tc.expires)
				return
			}
			require.Error(t, err, "refused")
			assert.Empty(t, id.UID, "no identity")
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err, "the reason")
			} else {
				assert.False(t, errors.Is(err, core.ErrExpired), "not reported as expired: %v", err)
			}
			if tc.text != "" {
				assert.Contains(t, err.Error(), tc.text, "the message")
			}
			var se *core.ServerError
			assert.False(t, errors.As(err, &se), "a refusal, not a server error")
		})
	}
}

// tamper changes the sub of a signed token, keeping its signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := splitToken(t, tok)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory"}`))
	return parts[0] + "." + parts[1] + "." + parts[2]
}

func splitToken(t *testing.T, tok string) []string {
	t.Helper()
	var parts []string
	start := 0
	for i := range len(tok) {
		if tok[i] == '.' {
			parts = append(parts, tok[start:i])
			start = i + 1
		}
	}
	parts = append(parts, tok[start:])
	require.Len(t, parts, 3, "a JWT has three parts")
	return parts
}

func TestJWTEmptySecretRefusesEverything(t *testing.T) {
	forged := sign(t, jwt.SigningMethodHS256, []byte{}, jwt.RegisteredClaims{Subject: "mallory"})
	for _, j := range []JWT{{}, {Secret: []byte{}}} {
		_, err := j.Authenticate(context.Background(), forged)
		assert.Error(t, err, "without a secret, a token signed with the empty key is refused")
	}
}
