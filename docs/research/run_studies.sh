#!/usr/bin/env bash
# Reproduce every number and chart in docs/research.md (about 15 minutes on 2 cores).
# Results go to reports/research/; the charts are copied to docs/research/.
# ONLY="1_qualification 6a_followup_hour" bash docs/research/run_studies.sh reruns just those studies.
set -euo pipefail
cd "$(dirname "$0")/../.."
R=scenarios/research
OUT=reports/research
N=${N:-1000}
run() {  # run NAME REFERENCE ALTERNATIVE METRIC...
  local name=$1 ref=$2 alt=$3; shift 3
  if [[ -n "${ONLY:-}" && " $ONLY " != *" $name "* ]]; then return 0; fi
  local args=()
  for m in "$@"; do args+=(--metric "$m"); done
  pipesim paired "$R/$ref" "$R/$alt" -n "$N" --seed 0 \
    "${args[@]}" --out "$OUT/$name" | tee "$OUT/$name.txt"
  cp "$OUT/$name/paired.png" "docs/research/$name.png"
}
mkdir -p "$OUT"
run 1_qualification research_base.yaml 01_qualification_effective.yaml \
  win_rate reps_at_quota p_target revenue no_decision_rate opportunities
run 2a_engagement_late research_base.yaml 02_engagement_late.yaml \
  win_rate lost_rate late_lost p_target revenue mean_cycle_days
run 2b_engagement_proactive 02_engagement_late.yaml 02_engagement_proactive.yaml \
  win_rate lost_rate late_lost p_target revenue uncaptured
run 3a_flanking_sponsor 03_flanking_none.yaml 03_flanking_sponsor.yaml \
  revenue won late_win_rate late_lost flank_hours flank_wins p_target
run 3b_flanking_no_sponsor 03_flanking_none.yaml 03_flanking_no_sponsor.yaml \
  revenue won late_win_rate late_lost flank_hours flank_wins p_target
run 3c_flanking_no_unique 03_no_unique_none.yaml 03_no_unique_flank.yaml \
  revenue won late_win_rate late_lost flank_hours flank_wins p_target
run 4_buying_groups 04_groups_small.yaml 04_groups_large.yaml \
  no_decision_rate mean_cycle_days win_rate p_target revenue
run 5_team_both 05_team_base.yaml 05_team_both.yaml revenue win_rate reps_at_quota p_target
run 5_team_hero_drop 05_team_base.yaml 05_team_hero_drop.yaml revenue win_rate reps_at_quota p_target
run 5_team_lift 05_team_base.yaml 05_team_lift.yaml revenue win_rate reps_at_quota p_target
run 6a_followup_hour 06_followup_prompt.yaml 06_followup_hour.yaml \
  qualified_rate not_reached uncaptured_campaign wasted_campaign_spend revenue won p_target
run 6b_followup_slow 06_followup_prompt.yaml 06_followup_slow.yaml \
  qualified_rate not_reached uncaptured_campaign wasted_campaign_spend revenue won p_target
[[ -n "${ONLY:-}" ]] && exit 0

# the qualification frontier
pipesim sweep "$R/research_base.yaml" \
  --param qualification.threshold=0.25:0.75:11 -n 200 --seed 0 --out "$OUT/sweep_threshold" \
  | tee "$OUT/sweep_threshold.txt"
cp "$OUT/sweep_threshold/charts/sweep_frontier.png" docs/research/sweep_frontier.png
cp "$OUT/sweep_threshold/charts/sweep_tradeoff.png" docs/research/sweep_tradeoff.png

# sensitivity of the (annual) baseline, default factors and sample sizes
pipesim sensitivity scenarios/baseline.yaml --seed 0 \
  --out "$OUT/sensitivity_baseline" | tee "$OUT/sensitivity_baseline.txt"
cp "$OUT/sensitivity_baseline/charts/tornado.png" docs/research/tornado.png
cp "$OUT/sensitivity_baseline/charts/sobol.png" docs/research/sobol.png
