#!/usr/bin/env bash
# Reinforcement learning on this machine (IMPALA, or --algorithm a2c|ppo): one learner and N
# environment workers (actor.py), each process logging to <workspace>/logs/ (learner.log,
# actor_<id>.log); the learner also prints its lines, and the workers their warnings. The
# learner chooses every action: the workers hold no network.
#
#   ./run_reinforcement_learning.sh [number of envs] [gpu use] [pretrained model] [flags...]
#   ./run_reinforcement_learning.sh 4 1 supervised_model_3 --total_frames 5000000
#
# number of envs: worker processes, one emulator each (default 8, the fastest measured on two
# cores: bench/impala_speed.py); a2c and ppo update on one unroll from each. gpu use: 1 trains
# on the GPU when there is one (default 0). pretrained model: a folder name under <workspace>/model/ or
# a path; `none` starts from scratch (default). Every further flag goes to the learner and to
# every actor; each ignores the other's flags (see `python learner.py --help`,
# `python actor.py --help`), and a flag neither knows stops the run with an error.
#
# Ctrl-C (or SIGTERM) stops the learner gracefully (final checkpoint, actors told to stop) and
# then ends any process of this script that is still running. The exit status is the learner's
# (0 when it reached --total_frames), or 130 after Ctrl-C and 143 after SIGTERM.
set -u

usage="usage: $0 [number of envs] [gpu use 0|1] [pretrained model|none] [learner/actor flags...]"
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
fi
num_envs=${1:-8}
gpu=${2:-0}
pretrained=${3:-none}
shift $(( $# < 3 ? $# : 3 ))
if ! [[ $num_envs =~ ^[1-9][0-9]*$ ]]; then
    echo "error: number of envs must be a positive integer (got '$num_envs'); $usage" >&2
    exit 2
fi
if ! [[ $gpu =~ ^[01]$ ]]; then
    echo "error: gpu use must be 0 or 1 (got '$gpu'); $usage" >&2
    exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
python=python3
[ -x "$here/.venv/bin/python" ] && python="$here/.venv/bin/python"

# The workspace is a pass-through flag; the script needs it for the log folder.
workspace=.
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
        --workspace_path=*) workspace=${args[i]#*=} ;;
        --workspace_path) workspace=${args[i + 1]:-.} ;;
    esac
done
logs="$workspace/logs"
mkdir -p "$logs" || exit 2
learner_log="$logs/learner.log"
echo "=== $(date '+%Y-%m-%d %H:%M:%S') $0 $num_envs $gpu $pretrained $*" >>"$learner_log"
log_start=$(wc -c <"$learner_log")  # earlier runs' lines are not this run's

actor_pids=()
learner_pid=
stopping=0

stop_all() {
    # First the learner, so it saves and tells the actors; then whatever is left.
    stopping=$1
    [ -n "$learner_pid" ] && kill -TERM "$learner_pid" 2>/dev/null
}
trap 'stop_all 130' INT
trap 'stop_all 143' TERM

export PYTHONUNBUFFERED=1
# The workers keep num_envs cores busy: TensorFlow gets what is left (a flag given wins).
cores=$(nproc)
tf_threads=$(( cores > num_envs ? cores - num_envs : 1 ))
"$python" "$here/learner.py" --gpu "$gpu" --tf_threads "$tf_threads" --workers "$num_envs" \
    --pretrained_model "$pretrained" "$@" &
learner_pid=$!

# The learner prints "listening on HOST:PORT" once actors can connect (the port may be 0).
port=
while [ -z "$port" ]; do
    if ! kill -0 "$learner_pid" 2>/dev/null; then
        wait "$learner_pid"
        exit $?
    fi
    port=$(tail -c +$((log_start + 1)) "$learner_log" | grep -ao 'listening on .*:[0-9]*$' |
        head -n 1 | grep -o '[0-9]*$')
    [ -z "$port" ] && sleep 0.2
done
address="127.0.0.1:$port"

if [ "$stopping" = 0 ]; then
    for ((actor = 0; actor < num_envs; actor++)); do
        echo "=== $(date '+%Y-%m-%d %H:%M:%S') actor $actor -> $address" >>"$logs/actor_$actor.log"
        "$python" "$here/actor.py" --learner_address "$address" --actor_id "$actor" "$@" \
            >/dev/null &
        actor_pids+=($!)
    done
    echo "started $num_envs actors; logs in $logs/"
fi

# `wait` returns early when a trapped signal arrives; keep waiting for the learner itself.
while kill -0 "$learner_pid" 2>/dev/null; do
    wait "$learner_pid"
done
wait "$learner_pid"  # bash keeps the status of a finished child for a second wait
status=$?

# Actors exit on the learner's stop; give stragglers a moment, then end them.
for ((second = 0; second < 10; second++)); do
    alive=0
    for pid in "${actor_pids[@]}"; do
        kill -0 "$pid" 2>/dev/null && alive=1
    done
    [ "$alive" = 0 ] && break
    sleep 1
done
for pid in "${actor_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null
done
wait 2>/dev/null
[ "$stopping" != 0 ] && status=$stopping
exit "$status"
