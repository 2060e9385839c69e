#!/usr/bin/env bash
# Runs the scenarios of issue 7 against a Mercure hub and writes the results:
#
#   s1    1,000 subscribers, 2,000 updates as fast as possible:
#         hub CPU per delivery, delivery latency p50 / p99
#   s2    10,000 subscribers, 200 updates at 100/s: hub CPU per delivery
#   s3    10,000 idle subscribers: hub memory per subscriber
#   s4    5,000 updates in history, 100 subscribers resume from the first id
#         (exact = 499,900 of 499,900)
#   slow  s1 with one more subscriber that never reads: compare p99 with s1
#   s5    1,000 subscribers, 500 updates at 50/s (an everyday load):
#         delivery latency p50 / p99; the last run's latency histogram is
#         drawn to bench/results/<date>-s5-latency.png
#
# and the Durable Streams scenarios of issue 12, against the same server's
# /v1/stream/ (its -durable-store: BENCH_DURABLE_STORE below):
#
#   d1    fan-out: 1,000 SSE readers of one stream, 500 appends of 200 bytes
#         at 50/s: latency from append to receipt p50 / p99 (the last run's
#         histogram is drawn to bench/results/<date>-d1-latency.png)
#   d2    64 concurrent writers, 20,000 appends into one stream: appends/s
#   d2m   the same spread over 1,000 streams
#   d3    10,000 idle SSE readers of one stream: memory per reader
#   d3s   10,000 idle, empty streams: memory per stream
#
# "BENCH_SCENARIOS='d1 d2 d2m d3 d3s' bench/scenarios.sh" runs them alone;
# run it once per store (BENCH_DURABLE_STORE=memory://, redis://…, nats://…).
#
# Each scenario runs BENCH_REPS times (default 5) against a fresh "ssehub
# serve", pinned to CPU 0 while the load generator is pinned to CPU 1 when
# the machine has two or more. Every run's JSON goes to
# bench/results/<date>-<scenario>.json (an array), the medians to
# bench/results/<date>-summary.md.
#
# Environment:
#   BENCH_SCENARIOS   which scenarios, default "s1 s2 s3 s4 slow s5"
#   BENCH_REPS        repetitions, default 5
#   BENCH_OUT         result folder, default bench/results
#   BENCH_HUB_URL     measure another hub at this URL instead of starting ours
#   BENCH_HUB_PID     that hub's process id (for CPU and memory figures)
#   BENCH_JWT_KEY     HS256 key of that hub (default: the key ours is given)
#   BENCH_FLAGS       extra flags for every ssehub bench run (they win over the
#                     scenario's: s1 with "-updates 500 -rate 50" is S5)
#   BENCH_HUB_FLAGS   extra flags for every ssehub serve we start, e.g.
#                     "-tls-self-signed" with BENCH_FLAGS="-h2 -insecure"
#   BENCH_STORE       the hub's -store (default: the embedded default, a bolt
#                     file in the run's temporary folder; memory:// for RAM)
#   BENCH_DURABLE_STORE  the -durable-store of the d scenarios (default: a new
#                     bolt file per run, fsync'd as the default is), e.g.
#                     memory://, redis://127.0.0.1:6379/0,
#                     nats://127.0.0.1:4222 (a key prefix or JetStream stream
#                     of the run's own is added)
#   BENCH_DURABLE_URL measure another Durable Streams server at this stream
#                     root (e.g. the reference server's http://…/v1/stream/)
#                     instead of starting ours; BENCH_HUB_PID is its pid
#
# Needs bash, go, jq and (for pinning) taskset. Every wait below is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

reps=${BENCH_REPS:-5}
scenarios=${BENCH_SCENARIOS:-"s1 s2 s3 s4 slow s5 d1 d2 d2m d3 d3s"}
out=${BENCH_OUT:-bench/results}
key=${BENCH_JWT_KEY:-ssehub-bench-secret}
extra=${BENCH_FLAGS:-}
hub_extra=${BENCH_HUB_FLAGS:-}
# The embedded default store of "ssehub serve", in a file of the run's own.
store=${BENCH_STORE:-}
date=$(date -u +%Y%m%d-%H%M%S)

command -v jq >/dev/null || { echo "scenarios.sh: needs jq (apt-get install jq)" >&2; exit 1; }

tmp=$(mktemp -d)
store=${store:-bolt://$tmp/ssehub.db}
hub_pid=""
stop_hub() {
	if [[ -n $hub_pid ]]; then
		kill "$hub_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$hub_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$hub_pid" 2>/dev/null || true
		wait "$hub_pid" 2>/dev/null || true
		hub_pid=""
	fi
}
cleanup() { stop_hub; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building ssehub into $tmp" >&2
go build -o "$tmp/ssehub" ./cmd/ssehub

hub_pin=() gen_pin=()
pin_note="hub and load generator share the CPUs"
if (( $(nproc) >= 2 )) && command -v taskset >/dev/null; then
	hub_pin=(taskset -c 0) gen_pin=(taskset -c 1)
	pin_note="hub pinned to CPU 0, load generator to CPU 1"
	echo "pinning the hub to CPU 0 and the load generator to CPU 1" >&2
else
	echo "one CPU (or no taskset): hub and load generator share it" >&2
fi

# start_hub starts our hub with the flags given and sets hub_url, hub_pid.
# The per-client connection cap and rate are lifted: the load generator is
# one client whose thousands of subscribers come from a few loopback
# addresses (25,000 each), which the defaults rightly refuse.
start_hub() {
	if [[ -n ${BENCH_HUB_URL:-} ]]; then
		hub_url=$BENCH_HUB_URL
		hub_pid=""
		return
	fi
	# shellcheck disable=SC2086 # $hub_extra is a list of flags
	"${hub_pin[@]}" "$tmp/ssehub" serve -addr 127.0.0.1:0 -log-format json \
		-jwt-key "$key" -anonymous -store "$store" \
		-max-conns-per-client 0 -conn-rate 0 $hub_extra "$@" 2>"$tmp/hub.log" &
	hub_pid=$!
	hub_url=""
	for _ in $(seq 100); do
		hub_url=$(jq -r 'select(.url != null) | .url' "$tmp/hub.log" 2>/dev/null | head -1)
		[[ -n $hub_url ]] && break
		kill -0 "$hub_pid" 2>/dev/null || { cat "$tmp/hub.log" >&2; echo "ssehub serve exited" >&2; exit 1; }
		sleep 0.1
	done
	[[ -n $hub_url ]] || { echo "ssehub serve did not report its address in 10 s" >&2; exit 1; }
	hub_url="${hub_url%/}/.well-known/mercure"
}

# scenario prints the hub flags and the bench flags of a scenario, on two lines.
scenario() {
	case $1 in
	s1) echo ""; echo "-subscribers 1000 -updates 2000" ;;
	s2) echo ""; echo "-subscribers 10000 -updates 200 -rate 100" ;;
	s3) echo "-heartbeat 2s"; echo "-subscribers 10000 -updates 0 -idle 5s" ;;
	s4) echo ""; echo "-subscribers 100 -updates 5000 -replay first" ;;
	slow) echo ""; echo "-subscribers 1000 -slow 1 -updates 2000" ;;
	s5) echo ""; echo "-subscribers 1000 -updates 500 -rate 50 -plot $out/$date-s5-latency.png" ;;
	d1) echo "-durable-sse-duration 10m"; echo "-subscribers 1000 -updates 500 -rate 50 -plot $out/$date-d1-latency.png" ;;
	d2) echo ""; echo "-appenders 64 -streams 1 -updates 20000" ;;
	d2m) echo ""; echo "-appenders 64 -streams 1000 -updates 20000" ;;
	d3) echo "-durable-sse-duration 10m"; echo "-subscribers 10000 -updates 0 -idle 5s" ;;
	d3s) echo ""; echo "-appenders 64 -streams 10000 -updates 0" ;;
	*) echo "unknown scenario $1 (want s1 s2 s3 s4 slow s5 d1 d2 d2m d3 d3s)" >&2; return 1 ;;
	esac
}

mkdir -p "$out"
summary="$out/$date-summary.md"
{
	echo "# ssehub bench scenarios, $date"
	echo
	echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $pin_note; loopback, 200-byte payloads; medians of $reps runs."
	echo "Hub: ${BENCH_HUB_URL:-ssehub serve (this commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)), -store ${store%%\?*}}; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	if [[ " $scenarios " =~ \ (s[0-9]|slow)\  ]]; then
		echo "| scenario | delivered / expected | lost | dup | out of order | hub CPU µs/delivery | latency p50 ms | latency p99 ms | hub's share p99 ≤ ms | generator busy % | delivery s | deliveries/s | RSS/subscriber KiB | connect p99 ms |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	fi
} >"$summary"

durable_summary="$tmp/durable-summary.md"
: >"$durable_summary"

# durable_store prints the -durable-store of one d run: the one asked for,
# made the run's own (a Redis key prefix, a JetStream stream), or a new
# bolt file.
durable_store() {
	local tag=$1
	case ${BENCH_DURABLE_STORE:-} in
	"") echo "bolt://$tmp/durable-$tag.db" ;;
	redis://*) echo "${BENCH_DURABLE_STORE}$([[ $BENCH_DURABLE_STORE == *\?* ]] && echo '&' || echo '?')key=ssehub-bench-$tag" ;;
	nats://*) echo "${BENCH_DURABLE_STORE}$([[ $BENCH_DURABLE_STORE == *\?* ]] && echo '&' || echo '?')stream=BENCH_${tag//[^A-Za-z0-9]/_}" ;;
	*) echo "$BENCH_DURABLE_STORE" ;;
	esac
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# run_durable runs the d scenario $1 (its flags in bench_flags) BENCH_REPS
# times and adds its medians to the Durable Streams table.
run_durable() {
	local s=$1 runs="$tmp/$1.jsonl" dstore root
	: >"$runs"
	for rep in $(seq "$reps"); do
		dstore=$(durable_store "$date-$s-$rep")
		if [[ -n ${BENCH_DURABLE_URL:-} ]]; then
			root=$BENCH_DURABLE_URL hub_pid=""
		else
			start_hub -durable-store "$dstore" "${hub_flags[@]}"
			root="${hub_url%/.well-known/mercure}/v1/stream/"
		fi
		pid=${BENCH_HUB_PID:-$hub_pid}
		echo "== $s run $rep/$reps (${dstore%%\?*}): ssehub bench -durable $root ${bench_flags[*]} $extra" >&2
		# shellcheck disable=SC2086 # $extra is a list of flags
		"${gen_pin[@]}" "$tmp/ssehub" bench -durable "$root" ${pid:+-pid "$pid"} \
			-payload 200 -timeout 5m -json "${bench_flags[@]}" $extra >"$tmp/run.json" ||
			echo "   (ssehub bench exited $?; its result is kept)" >&2
		jq -c . "$tmp/run.json" >>"$runs"
		jq -r 'def r: . * 100 | round / 100; if .appenders then "   \(.appended)/\(.appends) appended into \(.created) streams, \(.appends_per_second|round)/s, p50 \(.latency_us.p50/1000|r) ms, p99 \(.latency_us.p99/1000|r) ms, CPU/append \(.server_process.cpu_per_append_us // 0|r) µs, RSS/stream \(.server_process.rss_per_stream_bytes // 0|round) B, stop \(.stop)" else "   \(.distinct)/\(.expected) delivered, lost \(.lost), p50 \(.latency_us.p50/1000|r) ms, p99 \(.latency_us.p99/1000|r) ms, CPU/delivery \(.hub_process.cpu_per_delivery_us // 0|r) µs, RSS/reader \((.hub_process.rss_per_subscriber_bytes // 0)/1024|r) KiB, stop \(.stop)" end' "$tmp/run.json" >&2
		stop_hub
		[[ $dstore == bolt://* ]] && rm -f "${dstore#bolt://}"
	done
	jq -s . "$runs" >"$out/$date-$s.json"
	if [[ ! -s $runs ]]; then
		echo "| $s | ${dstore_label} | no run gave a result: see the log above | | | | | | |" >>"$durable_summary"
		return
	fi
	m() { jq -r "$1" "$runs" | median; }
	if [[ $(jq -r '.appenders // empty' "$runs" | head -1) != "" ]]; then
		printf '| %s | %s | %s streams, %s writers | %s / %s appended | %.0f | %.2f | %.2f | %.1f | %s |\n' "$s" "${dstore_label}" \
			"$(m .created)" "$(m .appenders)" "$(m .appended)" "$(m .appends)" "$(m .appends_per_second)" \
			"$(m '.latency_us.p50/1000')" "$(m '.latency_us.p99/1000')" "$(m '.server_process.cpu_per_append_us // 0')" \
			"$([[ $(m .appends) == 0 ]] && echo "$(m '.server_process.rss_per_stream_bytes // 0 | round') B/stream" || echo "—")" >>"$durable_summary"
	else
		printf '| %s | %s | %s readers | %s / %s delivered, lost %s | %.0f deliveries/s | %.2f | %.2f | %.1f | %s |\n' "$s" "${dstore_label}" \
			"$(m .connected)" "$(m .distinct)" "$(m .expected)" "$(m .lost)" "$(m .delivered_per_second)" \
			"$(m '.latency_us.p50/1000')" "$(m '.latency_us.p99/1000')" "$(m '.hub_process.cpu_per_delivery_us // 0')" \
			"$(m '(.hub_process.rss_per_subscriber_bytes // 0)/1024 | . * 10 | round / 10') KiB/reader" >>"$durable_summary"
	fi
}
dstore_label=$(durable_store label)
dstore_label=${dstore_label%%\?*}
[[ -z ${BENCH_DURABLE_STORE:-} ]] && dstore_label="bolt (default, fsync)"
[[ -n ${BENCH_DURABLE_URL:-} ]] && dstore_label="$BENCH_DURABLE_URL"

for s in $scenarios; do
	mapfile -t flags < <(scenario "$s")
	read -ra hub_flags <<<"${flags[0]}"
	read -ra bench_flags <<<"${flags[1]}"
	runs="$tmp/$s.jsonl"
	: >"$runs"
	if [[ $s == d* ]]; then
		run_durable "$s"
		continue
	fi
	for rep in $(seq "$reps"); do
		start_hub "${hub_flags[@]}"
		pid=${BENCH_HUB_PID:-$hub_pid}
		echo "== $s run $rep/$reps: ssehub bench ${bench_flags[*]} $extra" >&2
		# shellcheck disable=SC2086 # $extra is a list of flags
		"${gen_pin[@]}" "$tmp/ssehub" bench -hub "$hub_url" -jwt-key "$key" ${pid:+-pid "$pid"} \
			-payload 200 -timeout 5m -json "${bench_flags[@]}" $extra >"$tmp/run.json" ||
			echo "   (ssehub bench exited $?; its result is kept)" >&2
		jq -c . "$tmp/run.json" >>"$runs"
		jq -r 'def r: . * 100 | round / 100; "   \(.distinct)/\(.expected) delivered, lost \(.lost), p50 \(.latency_us.p50/1000|r) ms, p99 \(.latency_us.p99/1000|r) ms, CPU/delivery \(.hub_process.cpu_per_delivery_us // 0|r) µs, RSS/sub \((.hub_process.rss_per_subscriber_bytes // 0)/1024|r) KiB, hub share p99 ≤ \(.hub_write_delay.p99_at_most_ms // "n/a") ms, generator busy \((.generator.busy // 0) * 100 | round) %, stop \(.stop)"' "$tmp/run.json" >&2
		stop_hub
	done
	jq -s . "$runs" >"$out/$date-$s.json"
	m() { jq -r "$1" "$runs" | median; }
	printf '| %s | %s / %s | %s | %s | %s | %.3f | %.3f | %.3f | %s | %.0f | %.3f | %.0f | %.2f | %.2f |\n' "$s" \
		"$(m .distinct)" "$(m .expected)" "$(m .lost)" "$(m .duplicated)" "$(m .out_of_order)" \
		"$(m '.hub_process.cpu_per_delivery_us // 0')" "$(m '.latency_us.p50/1000')" "$(m '.latency_us.p99/1000')" \
		"$(m '.hub_write_delay.p99_at_most_ms // empty')" "$(m '(.generator.busy // 0) * 100')" "$(m .delivery_seconds)" "$(m .delivered_per_second)" "$(m '(.hub_process.rss_per_subscriber_bytes // 0)/1024')" "$(m '.connect_us.p99/1000')" >>"$summary"
done

if [[ " $scenarios " == *" s1 "* && " $scenarios " == *" slow "* ]]; then
	p1=$(jq -r '.latency_us.p99' "$tmp/s1.jsonl" | median)
	ps=$(jq -r '.latency_us.p99' "$tmp/slow.jsonl" | median)
	awk -v a="$p1" -v b="$ps" 'BEGIN {printf "\nOne slow subscriber among 1,000 changes the others'"'"' p99 from %.3f ms to %.3f ms (%+.1f %%; the goal is under 10 %%).\n", a/1000, b/1000, (b-a)*100/a}' >>"$summary"
fi
if [[ -s $durable_summary ]]; then
	{
		echo
		echo "Durable Streams (ssehub bench -durable), -durable-store $dstore_label; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
		echo
		echo "| scenario | store | shape | done | per second | latency p50 ms | latency p99 ms | server CPU µs per delivery or append | memory |"
		echo "|---|---|---|---|---|---|---|---|---|"
		cat "$durable_summary"
	} >>"$summary"
fi
echo >&2
cat "$summary"
echo "results: $out/$date-*.json, $summary" >&2
