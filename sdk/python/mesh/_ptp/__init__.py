"""Generated protobuf and gRPC code for host/ptp/ptp.proto (committed; needs
grpcio and protobuf at run time, imported only by mesh._grpc).

Regenerate from the repository root (Debian: python3-grpc-tools):

    /usr/bin/python3 -m grpc_tools.protoc -Imesh/_ptp=host/ptp \\
        --python_out=sdk/python --grpc_python_out=sdk/python host/ptp/ptp.proto
"""
