// Command gpushc is a small gpush client: it connects, optionally logs in,
// subscribes to the channels given and prints every message it receives,
// one per line.
//
//	gpushc -topic news -topic sport
//	gpushc -token "$JWT" -private orders
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gorilla/websocket"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gpushc:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	var topics, private list
	fs := flag.NewFlagSet("gpushc", flag.ContinueOnError)
	url := fs.String("url", "ws://127.0.0.1:8989/ws", "server WebSocket URL")
	token := fs.String("token", "", "login credential (a JWT)")
	fs.Var(&topics, "topic", "public channel to subscribe to (repeatable)")
	fs.Var(&private, "private", "private channel to subscribe to after login (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ws, _, err := websocket.DefaultDialer.Dial(*url, nil)
	if err != nil {
		return err
	}
	defer ws.Close()
	id := 0
	send := func(code int, topic, data string) error {
		id++
		return ws.WriteJSON(map[string]any{"code": code, "topic": topic, "data": data, "id": id})
	}
	for _, t := range topics {
		if err := send(1, t, ""); err != nil {
			return err
		}
	}
	if *token != "" {
		if err := send(3, "", *token); err != nil {
			return err
		}
		for _, t := range private {
			if err := send(5, t, ""); err != nil {
				return err
			}
		}
	}
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		if !json.Valid(msg) {
			msg, _ = json.Marshal(string(msg))
		}
		fmt.Fprintf(out, "%s\n", msg)
	}
}
