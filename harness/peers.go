package harness

// Servers the bench measures beside gpushd's variants, each its own binary:
// the floor (cmd/gpush-floor: upgrade, epoll, frames written, nothing
// else) and Centrifugo, a production push server people would pick
// instead. Their names stand where a variant name stands.
const (
	Floor      = "floor"
	Centrifugo = "centrifugo"
)

// externalScenarios are the scenarios each external server takes part in:
// the floor serves what needs no protocol (every connection gets every
// push); Centrifugo what its protocol and API can carry as ours does.
var externalScenarios = map[string]map[string]bool{
	Floor:      {"idle": true, "fanout": true, "flood": true, "split": true, "cluster": true}, // cluster: one node, public fan-out
	Centrifugo: {"idle": true, "fanout": true, "flood": true, "private": true},
}

// External reports whether v names a server other than gpushd.
func External(v string) bool { _, ok := externalScenarios[v]; return ok }

// Serves reports whether variant v takes part in a scenario: gpushd's
// variants in all of them, the external servers in theirs.
func Serves(v, scenario string) bool {
	s, ok := externalScenarios[v]
	return !ok || s[scenario]
}

// StartFloor starts the floor binary on free ports and dials its push API.
// flush is its flush interval ("": its default, gpushd's 10 ms).
func StartFloor(bin, flush string) (*Server, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	s := &Server{WSAddr: ports[0], GRPCAddr: ports[1], HTTPAddr: ports[2], exited: make(chan struct{}), kind: Floor}
	s.Config = map[string]string{"variant": Floor, "ws-addr": s.WSAddr, "grpc-addr": s.GRPCAddr, "http-addr": s.HTTPAddr}
	args := []string{"-ws-addr=" + s.WSAddr, "-grpc-addr=" + s.GRPCAddr, "-http-addr=" + s.HTTPAddr}
	if flush != "" {
		s.Config["flush-interval"] = flush
		args = append(args, "-flush-interval="+flush)
	}
	if err := s.launch(bin, args); err != nil {
		return nil, err
	}
	return s, nil
}
