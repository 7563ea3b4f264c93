#!/usr/bin/env bash
# The three learners on the same games, the same workers and the same budget of minutes:
#
#   1. Airstriker from scratch, MINUTES each: impala (defaults), a2c (--preset a2c_sonic) and
#      ppo (128-step unrolls, 4 epochs of 4 minibatches, clip 0.1); their curves in one plot
#      (image/algorithms_airstriker.png) and each final model evaluated on EPISODES episodes
#      beside the random baseline;
#   2. MontezumaRevenge-Atari2600 from scratch, MZ_MINUTES each: ppo with RND (--preset
#      ppo_rnd) against the same ppo without it (--rnd_coef 0), 84x84 gray, 4 frames stacked,
#      sticky actions 0.25; rooms visited, episode scores and the intrinsic reward over time
#      (experiments/montezuma.py).
#
#   experiments/algorithms.sh [output folder]               (default: runs/algorithms)
#   MINUTES=10 MZ_MINUTES=15 EPISODES=20 experiments/algorithms.sh runs/short
#
# Runs are measured in minutes here, as the comparison is of what each learner makes of the
# same machine time: nothing else should run beside them. A stage whose workspace has a
# `finished` file is skipped.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-runs/algorithms}
minutes=${MINUTES:-30}
mz_minutes=${MZ_MINUTES:-60}
envs=${ENVS:-8}
episodes=${EPISODES:-20}
python=python3
[ -x "$here/.venv/bin/python" ] && python="$here/.venv/bin/python"
export PYTHONUNBUFFERED=1
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$here"

stage() { echo; echo "=== $(date '+%H:%M:%S') $*"; }
newest_model() {
    ls -dv "$1/model/reinforcement_model_"* 2>/dev/null | tail -n 1
}
train() {  # workspace minutes [learner flags...]
    local workspace=$1 budget=$2
    shift 2
    [ -f "$workspace/finished" ] && return
    rm -rf "$workspace"
    mkdir -p "$workspace"
    stage "train $workspace for $budget minutes: $*"
    local start=$SECONDS status=0
    # The launcher stops the learner with SIGTERM, which saves a last checkpoint.
    timeout -s TERM "$((budget * 60))" ./run_reinforcement_learning.sh "$envs" 0 none \
        --workspace_path "$workspace" --seed 0 --total_frames 1000000000 "$@" || status=$?
    [ "$status" -eq 0 ] || [ "$status" -eq 124 ] || [ "$status" -eq 143 ] || exit "$status"
    echo "$((SECONDS - start)) s" > "$workspace/finished"
}
evaluate() {  # workspace [max steps]
    local workspace=$1 steps=${2:-4500} model
    [ -f "$workspace/results/evaluation.json" ] && return
    model=$(basename "$(newest_model "$workspace")")
    stage "evaluate $workspace/$model ($episodes episodes, random baseline beside it)"
    "$python" run_evaluation.py --workspace_path "$workspace" --model_name "$model" \
        --episodes "$episodes" --max_steps "$steps" --seed 0 --baseline random
    mv "$(ls -t "$workspace"/results/"$model"-seed0-*.json | head -n 1)" \
        "$workspace/results/evaluation.json"
}

train "$out/airstriker_impala" "$minutes"
train "$out/airstriker_a2c" "$minutes" --preset a2c_sonic
train "$out/airstriker_ppo" "$minutes" --algorithm ppo --unroll_length 128
montezuma=(--game MontezumaRevenge-Atari2600-v0 --grayscale --frame_stack 4
           --sticky_action_prob 0.25 --preset ppo_rnd)
train "$out/montezuma_ppo_rnd" "$mz_minutes" "${montezuma[@]}"
train "$out/montezuma_ppo" "$mz_minutes" "${montezuma[@]}" --rnd_coef 0

for algorithm in impala a2c ppo; do
    evaluate "$out/airstriker_$algorithm"
done
for run in ppo_rnd ppo; do
    evaluate "$out/montezuma_$run" 4500
done
stage "summaries"
"$python" experiments/compare_curves.py "$out/airstriker_impala:impala" \
    "$out/airstriker_a2c:a2c (a2c_sonic)" "$out/airstriker_ppo:ppo" \
    --out "$out/image/algorithms_airstriker.png" --windows 4 | tee "$out/airstriker.md"
"$python" experiments/montezuma.py "$out/montezuma_ppo_rnd:ppo + RND" "$out/montezuma_ppo:ppo" \
    --out "$out/image/montezuma.png" | tee "$out/montezuma.md"
