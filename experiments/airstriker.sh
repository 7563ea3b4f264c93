#!/usr/bin/env bash
# The whole pipeline on the default game, with fixed seeds, measured the same way at each stage:
#
#   1. behaviour cloning on the shipped demonstrations (run_supervised_learning.py defaults);
#   2. IMPALA fine-tuning from that model for RL_MINUTES of wall-clock time;
#   3. IMPALA from scratch for the same time, to show what the demonstrations are worth;
#   4. every policy evaluated on the same EPISODES episodes (same seeds, 4,500-step limit)
#      beside the random baseline, then the table and the learning curves.
#
#   experiments/airstriker.sh [output folder]        (default: runs/airstriker)
#   RL_MINUTES=30 NUM_ACTORS=2 EPISODES=20 experiments/airstriker.sh runs/short
#   SL_STEPS=50 RL_MINUTES=1 EPISODES=2 experiments/airstriker.sh runs/smoke   # a quick look
#
# Each stage is skipped when its output is already there, so a stopped run continues where it
# stopped (an RL stage that was cut off is started again). Writes under the output folder:
# sl/, rl_from_sl/, rl_from_scratch/ (workspaces: model/, tensorboard/, logs/, results/),
# results.md (the table) and image/ (the curves); copy the images to image/ to publish them.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-runs/airstriker}
rl_minutes=${RL_MINUTES:-60}
num_actors=${NUM_ACTORS:-2}
episodes=${EPISODES:-20}
sl_steps=${SL_STEPS:-}  # empty: run_supervised_learning.py's default
python=python3
[ -x "$here/.venv/bin/python" ] && python="$here/.venv/bin/python"
export PYTHONUNBUFFERED=1
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$here"

stage() { echo; echo "=== $(date '+%H:%M:%S') $*"; }
newest_model() {  # newest <workspace>/model/<prefix><number>, by number
    ls -dv "$1/model/$2"* 2>/dev/null | grep -E "/$2[0-9]+\$" | tail -n 1
}
evaluate() {  # workspace model_folder_name -> results/evaluation.json
    local workspace=$1 model=$2
    [ -f "$workspace/results/evaluation.json" ] && return
    stage "evaluate $model ($episodes episodes, random baseline beside it)"
    "$python" run_evaluation.py --workspace_path "$workspace" --model_name "$model" \
        --episodes "$episodes" --max_steps 4500 --seed 0 --baseline random
    mv "$(ls -t "$workspace"/results/"$model"-seed0-*.json | head -n 1)" \
        "$workspace/results/evaluation.json"
}
reinforce() {  # workspace pretrained(name|path|none) seed [learner flags...]
    local workspace=$1 pretrained=$2 seed=$3
    shift 3
    if [ -f "$workspace/finished" ]; then return; fi
    rm -rf "$workspace"  # a run cut off part-way starts again: its clock is what is measured
    mkdir -p "$workspace"
    stage "IMPALA from $(basename "$pretrained") for $rl_minutes minutes, $num_actors actors"
    local started=$SECONDS
    # The learner's defaults are what these runs found (README, Results on Airstriker): the
    # game's reward settings (env_wrappers.TRAINING_DEFAULTS: a hit worth 1, a lost life -10,
    # 4,500-step episodes) and, from a pretrained model, the gentle fine-tuning settings
    # (impala_update.FINE_TUNING_DEFAULTS). The launcher turns SIGTERM into a graceful stop
    # with a final checkpoint.
    timeout --foreground --signal=TERM "${rl_minutes}m" ./run_reinforcement_learning.sh \
        "$num_actors" 0 "$pretrained" --workspace_path "$workspace" --bind 127.0.0.1:0 \
        --seed "$seed" --total_frames 1000000000 "$@" || [ $? = 124 ]
    echo "$((SECONDS - started))" >"$workspace/finished"
}

sl=$out/sl
if [ ! -f "$sl/finished" ]; then
    stage "behaviour cloning on demos/Airstriker-Genesis-v0"
    started=$SECONDS
    "$python" run_supervised_learning.py --workspace_path "$sl" --seed 1 \
        ${sl_steps:+--training_steps "$sl_steps"}
    echo "$((SECONDS - started))" >"$sl/finished"
fi
sl_model=$(basename "$(newest_model "$sl" supervised_model_)")
evaluate "$sl" "$sl_model"

reinforce "$out/rl_from_sl" "$sl/model/$sl_model" 1
evaluate "$out/rl_from_sl" "$(basename "$(newest_model "$out/rl_from_sl" reinforcement_model_)")"

reinforce "$out/rl_from_scratch" none 1
evaluate "$out/rl_from_scratch" \
    "$(basename "$(newest_model "$out/rl_from_scratch" reinforcement_model_)")"

stage "results"
"$python" experiments/summarize.py "$out"
