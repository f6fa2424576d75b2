// Package readme performs the README's steps exactly: start the server
// with its defaults, connect gpushc to the channel news, push with curl
// (one push, then a batch), and see the pushes arrive.
package readme
