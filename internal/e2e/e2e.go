// Package e2e proves the production server with clients nobody here wrote:
// Node's ws package and a headless Chromium page. Both need programs a Go
// toolchain does not bring: .ci/run installs them; elsewhere the tests skip
// with a message unless CI is set, when a missing program fails them.
package e2e
