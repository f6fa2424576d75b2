package js

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, h http.Handler, path string) (int, string, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return rec.Code, rec.Header().Get("Content-Type"), string(b)
}

// TestDemo: the page, its script, the client and the page's settings are
// served from the embedded files; nothing else is.
func TestDemo(t *testing.T) {
	h := Demo("8989")
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/demo/", "text/html", `<script type="module" src="demo.js">`},
		{"/demo/demo.js", "javascript", `from './gpush.js'`},
		{"/demo/gpush.js", "javascript", "export function connect("},
		{"/demo/config.json", "application/json", `{"wsPort":"8989"}`},
	} {
		code, ctype, body := get(t, h, tc.path)
		assert.Equal(t, 200, code, tc.path)
		assert.Contains(t, ctype, tc.ctype, tc.path)
		assert.Contains(t, body, tc.contains, tc.path)
	}
	for _, path := range []string{"/demo/nope.js", "/demo/embed.go", "/demo/../gpush.js", "/demo/tests/client.test.mjs"} {
		code, _, _ := get(t, h, path)
		assert.NotEqual(t, 200, code, "%s is not served", path)
	}
}
