package ptp

// Regenerate ptp.pb.go and ptp_grpc.pb.go after editing ptp.proto. Needs protoc
// (Debian: protobuf-compiler) and the two Go plugins:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@latest
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@latest
//
//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative ptp.proto
