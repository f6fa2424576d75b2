package conformance

import (
	"testing"

	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// eachVariant runs run as subtest "variant=<name>" against a fresh server
// of every registered variant whose axes keep accepts (nil: every one);
// tweak changes the server's config before it starts.
func eachVariant(t *testing.T, keep func(variants.Axes) bool, tweak func(*server.Config), run func(t *testing.T, s *st.Server)) {
	t.Helper()
	for _, v := range variants.Names() {
		if a, _ := variants.AxesOf(v); keep != nil && !keep(a) {
			continue
		}
		t.Run("variant="+v, func(t *testing.T) { run(t, st.Start(t, v, tweak)) })
	}
}

// policyOnly keeps the variants of one write policy.
func policyOnly(p string) func(variants.Axes) bool {
	return func(a variants.Axes) bool { return a.Policy == p }
}
