#!/usr/bin/env bash
# Regenerates the committed benchmark results (results/*.json) on this machine.
# Every figure comes from one rill-bench run; repeated runs let the README quote medians.
# Takes about 5 minutes on 2 cores; needs ~2 GB of free disk for the CSV input.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p rill-bench
bench=target/release/rill-bench
out=results
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
mkdir -p "$out"
runs=${RUNS:-3}

# 1. The sensors job on generated input, 1 worker (the main job), and the reference points:
#    generator alone, a plain timely dataflow, a hand-written loop.
for i in $(seq 1 "$runs"); do
  $bench run sensors --events 100000000 --workers 1 --json "$out/sensors_generated_w1_run$i.json" \
    | tee "$data/run$i.txt"
done
# Half of the median throughput just measured (events/s), for the latency runs below.
half_rate=$(grep -h '^throughput:' "$data"/run*.txt | awk '{print $2}' | sort -n \
  | awk '{v[NR]=$1} END {printf "%d", v[int((NR+1)/2)] * 1e6 / 2}')
echo "latency runs at $half_rate events/s"
$bench run sensors --events 100000000 --workers 2 --json "$out/sensors_generated_w2.json"
$bench baseline sensors --events 100000000 --json "$out/sensors_baselines_generated.json"

# 2. The same job reading a CSV file (per worker), and the hand-written CSV loop.
$bench gen sensors --events 30000000 --out "$data/sensors.csv"
for i in $(seq 1 "$runs"); do
  $bench run sensors --input "$data/sensors.csv" --workers 1 --json "$out/sensors_csv_w1_run$i.json"
done
$bench run sensors --input "$data/sensors.csv" --workers 2 --json "$out/sensors_csv_w2.json"
$bench baseline sensors --input "$data/sensors.csv" --json "$out/sensors_baselines_csv.json"

# 3. Latency: open-loop at half of the 1-worker maximum measured in step 1, 1 s windows so that
#    a run has 400 window ends to take percentiles over; five runs, the README quotes the median.
#    The low-latency setting: the worker polls up to 1 ms before parking between arrivals.
for i in 1 2 3 4 5; do
  $bench run sensors --events 40000000 --rate "$half_rate" --window-ms 1000 --workers 1 --idle-spin-us 1000 \
    --json "$out/sensors_latency_half_rate_run$i.json"
done
#    The same with timely's default idle spin (10 us): what the setting buys.
for i in 1 2 3 4 5; do
  $bench run sensors --events 40000000 --rate "$half_rate" --window-ms 1000 --workers 1 \
    --json "$out/sensors_latency_half_rate_default_spin_run$i.json"
done

# 4. State size: 1.2 M rooms spread evenly (about 1.04 M of them with sensors), one 100 s window
#    holding them all.
$bench run sensors --events 10000000 --rooms 1200000 --zipf-exponent 0 --window-ms 100000 \
  --json "$out/sensors_state_1m_keys.json"

# 5. The fraud job.
$bench run fraud --events 5000000 --workers 1 --json "$out/fraud_generated_w1.json"
echo "results written to $out/"
