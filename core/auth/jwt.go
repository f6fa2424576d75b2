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
// refused.
type JWT struct {
	Secret []byte
}

// Authenticate implements core.Authenticator.
func (j JWT) Authenticate(_ context.Context, cred string) (core.Identity, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(cred, &claims, func(*jwt.Token) (any, error) {
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
