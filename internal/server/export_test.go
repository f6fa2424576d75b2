package server

// SetGateHook makes f run in every upgrade that passed the gate, before its
// handshake; nil removes it.
func SetGateHook(f func()) { testHookGate = f }
