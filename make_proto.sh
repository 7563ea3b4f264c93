#!/bin/sh
# Regenerates retro_rl/rl/proto/learner_pb2.py and learner_pb2_grpc.py from learner.proto. Run from
# anywhere after editing the .proto; commit the generated files with it (they need grpcio-tools
# only to build). Generated from the repository root, so the gRPC module imports its messages
# from the package: `from retro_rl.rl.proto import learner_pb2`.
set -e
cd "$(dirname "$0")"
"${PYTHON:-.venv/bin/python}" -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. \
    retro_rl/rl/proto/learner.proto
