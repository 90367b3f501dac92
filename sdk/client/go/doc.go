// Package meshclient is the Go client SDK for algorithm containers: push
// byte messages to, and pop them from, session queues through the
// container's own Mesh node, over gRPC (PrivateTransferTransport, the
// default) or HTTP (raw application/octet-stream bodies).
//
//	t, err := meshclient.Dial(ctx, "127.0.0.1:7304")
//	s, err := t.Open(ctx, "job-1", meshclient.Metadata{meshclient.HeaderTargetNodeID: "node-b"})
//	err = s.Push(ctx, "scores", []byte("0.93"), nil)
//	msg, err := s.Pop(ctx, "scores", 10*time.Second) // nil, nil when nothing came
//	err = t.Close() // releases the sessions it opened
//
// A queue is keyed by (node, session id, topic) and is FIFO. A push is
// acknowledged once the message is stored where it will be popped; pushes
// carry the session's target headers, while Pop, Peek and Release read the
// caller's own node. A failure the node reports is an *Error carrying the
// PTP code; match it with errors.Is against the Err* values or read it with
// CodeOf. The package imports only the generated protocol (host/ptp) of the
// node module.
package meshclient
