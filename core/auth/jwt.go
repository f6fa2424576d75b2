// Package auth holds the shipped login checks: HS256 JWT and an HTTP
// callback to the application's own auth service.
package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gpush/gpush/core"
)

// JWT accepts HS256 tokens signed with Secret; `sub` is the user id and
// `exp`, when present, is enforced. `none` and every other algorithm are
// refused. An empty Secret refuses every token: HMAC with an empty key
// would accept tokens anyone can sign.
type JWT struct {
	Secret []byte
}

var errNoSecret = errors.New("no JWT secret configured")

// Authenticate implements core.Authenticator.
func (j JWT) Authenticate(_ context.Context, cred string) (core.Identity, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(cred, &claims, func(*jwt.Token) (any, error) {
		if len(j.Secret) == 0 {
			return nil, errNoSecret
		}
		return j.Secret, nil
	}, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))
	if errors.Is(err, jwt.ErrTokenExpired) {
		return core.Identity{}, core.ErrExpired
	}
	if err != nil {
		return core.Identity{}, fmt.Errorf("invalid token: %w", err)
	}
	if claims.Subject == "" {
		return core.Identity{}, errors.New("token has no sub")
	}
	id := core.Identity{UID: claims.Subject}
	if claims.ExpiresAt != nil {
		id.Expires = claims.ExpiresAt.Time
	}
	return id, nil
}
