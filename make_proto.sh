#!/bin/sh
# Regenerates impala_pb2.py and impala_pb2_grpc.py from impala.proto. Run from anywhere after
# editing the .proto; commit the generated files with it (they need grpcio-tools only to build).
set -e
cd "$(dirname "$0")"
"${PYTHON:-.venv/bin/python}" -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. impala.proto
