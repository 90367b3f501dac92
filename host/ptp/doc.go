// Package ptp holds the BFIA Private Transfer Protocol (PTP/1.0) as Mesh
// speaks it on the wire: the protobuf messages and gRPC services generated
// from ptp.proto, the header names, the one table of status codes, and the
// parsing of x-ptp-uri in the dialects met in the field.
package ptp
