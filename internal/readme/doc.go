// Package readme performs the README's steps exactly: start the server
// with its defaults, connect gpushc to the channel news, push with curl,
// and see the push arrive.
package readme
