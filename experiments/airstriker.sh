#!/usr/bin/env bash
# The whole pipeline on the default game, with fixed seeds, each stage measured the same way:
#
#   1. behaviour cloning on the shipped demonstrations, its value head fitted to their returns
#      (run_supervised_learning.py defaults), and once more without (--value_cost 0);
#   2. IMPALA fine-tuning from the clone for an hour's frames (HOUR_FRAMES: what an hour gives
#      on this 2-core machine), its episodes ending at the level's end and half of them
#      starting along the demonstrations (--demo_starts);
#   3. IMPALA from scratch for the same frames;
#   4. each change's own effect, with runs of equal length (SHORT_FRAMES), each from the clone
#      with one change taken back: no level end (and no stall guard: the episodes of before),
#      no cloned critic (the clone without one, with the 500-update value warm-up of before),
#      no demonstration starts; the full run's checkpoint at the same frames is their reference;
#   5. every policy evaluated on the same EPISODES episodes (seeds 0.., 4,500-step limit) beside
#      the random baseline, then the table, with 95% bootstrap intervals, and the curves.
#
#   experiments/airstriker.sh [output folder]        (default: runs/airstriker)
#   HOUR_FRAMES=1000000 SHORT_FRAMES=300000 EPISODES=5 experiments/airstriker.sh runs/short
#   SL_STEPS=50 HOUR_FRAMES=20000 SHORT_FRAMES=10000 EPISODES=2 experiments/airstriker.sh runs/smoke
#
# Runs are measured in frames, not minutes, so that other work on the machine changes how long
# they take, not what they learn; each stage's wall-clock time is written beside it. A stage is
# skipped when its output is there, so a stopped run continues where it stopped (an RL stage
# that was cut off is started again). Writes under the output folder: one workspace per stage
# (model/, tensorboard/, logs/, results/), results.md (the table) and image/ (the curves).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-runs/airstriker}
hour_frames=${HOUR_FRAMES:-7200000}
short_frames=${SHORT_FRAMES:-2400000}
envs=${ENVS:-8}
episodes=${EPISODES:-30}
sl_steps=${SL_STEPS:-}  # empty: run_supervised_learning.py's default
demos=$here/demos/Airstriker-Genesis-v0
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
evaluate() {  # workspace model_folder_name report_name
    local workspace=$1 model=$2 name=${3:-evaluation}
    [ -f "$workspace/results/$name.json" ] && return
    stage "evaluate $model ($episodes episodes, random baseline beside it)"
    "$python" run_evaluation.py --workspace_path "$workspace" --model_name "$model" \
        --episodes "$episodes" --max_steps 4500 --seed 0 --baseline random
    mv "$(ls -t "$workspace"/results/"$model"-seed0-*.json | head -n 1)" \
        "$workspace/results/$name.json"
}
clone() {  # workspace [flags...]
    local workspace=$1
    shift
    [ -f "$workspace/finished" ] && return
    stage "behaviour cloning into $workspace $*"
    local started=$SECONDS
    "$python" run_supervised_learning.py --workspace_path "$workspace" --seed 1 \
        ${sl_steps:+--training_steps "$sl_steps"} "$@"
    echo "$((SECONDS - started))" >"$workspace/finished"
}
reinforce() {  # workspace pretrained(path|none) frames [learner flags...]
    local workspace=$1 pretrained=$2 frames=$3
    shift 3
    [ -f "$workspace/finished" ] && return
    rm -rf "$workspace"  # a run cut off part-way starts again
    mkdir -p "$workspace"
    stage "IMPALA from $(basename "$pretrained") for $frames frames, $envs workers $*"
    local started=$SECONDS
    # The learner's defaults are what was measured to work: the game's reward settings
    # (games.TRAINING_DEFAULTS) and, from a pretrained model, the gentle fine-tuning settings
    # (rl/config.py FINE_TUNING_DEFAULTS; no value warm-up for a clone with a critic).
    ./run_reinforcement_learning.sh "$envs" 0 "$pretrained" --workspace_path "$workspace" \
        --bind 127.0.0.1:0 --seed 1 --total_frames "$frames" --save_every 625 "$@"
    echo "$((SECONDS - started))" >"$workspace/finished"
}

clone "$out/sl"
clone "$out/sl_no_critic" --value_cost 0
sl=$(newest_model "$out/sl" supervised_model_)
evaluate "$out/sl" "$(basename "$sl")"

reinforce "$out/rl_from_sl" "$sl" "$hour_frames" --demo_starts "$demos"
evaluate "$out/rl_from_sl" "$(basename "$(newest_model "$out/rl_from_sl" reinforcement_model_)")"
reinforce "$out/rl_from_scratch" none "$hour_frames"
evaluate "$out/rl_from_scratch" \
    "$(basename "$(newest_model "$out/rl_from_scratch" reinforcement_model_)")"

# Each change taken back alone, for SHORT_FRAMES; the reference is the full run's checkpoint
# there (an update is 8 unrolls x 20 steps x 4 frames = 640 frames).
reference=reinforcement_model_$((short_frames / 640))
[ -d "$out/rl_from_sl/model/$reference" ] && evaluate "$out/rl_from_sl" "$reference" short
reinforce "$out/without_level_end" "$sl" "$short_frames" --demo_starts "$demos" \
    --no-level_end --stall_steps 0
reinforce "$out/without_cloned_critic" "$(newest_model "$out/sl_no_critic" supervised_model_)" \
    "$short_frames" --demo_starts "$demos"
reinforce "$out/without_demo_starts" "$sl" "$short_frames"
for ablation in without_level_end without_cloned_critic without_demo_starts; do
    evaluate "$out/$ablation" \
        "$(basename "$(newest_model "$out/$ablation" reinforcement_model_)")"
done

stage "results"
"$python" experiments/summarize.py "$out"
