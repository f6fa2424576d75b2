// Package e2e proves the production server with clients nobody here wrote:
// Node's ws package and a headless Chromium page; and it proves gpush's own
// JavaScript client (clients/js) with its unit tests, under Node against a
// real gpushd, and in Chromium through the demo page. Both need programs a Go
// toolchain does not bring: .ci/run installs them; elsewhere the tests skip
// with a message unless CI is set, when a missing program fails them.
package e2e
