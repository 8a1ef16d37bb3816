#!/usr/bin/env bash
# benches/compare.sh: echokit against the reference peers (issue 7), by the method of
# ../shared/peers/README.md: server pinned to CPU 1, one-thread client pinned to CPU 0,
# every peer in the same invocation, runs interleaved, medians with [min..max].
#
#   benches/compare.sh [WORKLOAD]...        (default: all of them; --help lists them)
#   RUNS=1 DURATION=0.5 benches/compare.sh  (a quick check that it works, not a figure)
#
# Environment: RUNS (3), DURATION seconds per run (3), WARMUP seconds before the
# measured window (0.5), IDLE_CONNS (10000), PEERS (../shared/peers from the repository),
# BUILD_DIR (target/benches), CARGO_TARGET_DIR (target), VERBOSE=1 (every client line).
# Nothing is written inside the repository but the build dir under target/ (ignored by
# git); sockets and logs go to a temporary directory removed on exit.
set -euo pipefail

RUNS=${RUNS:-3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-0.5}
IDLE_CONNS=${IDLE_CONNS:-10000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
BUILD_DIR=${BUILD_DIR:-$ROOT/target/benches}
SERVER_CPU=1
CLIENT_CPU=0

ALL_WORKLOADS=(pingpong pingpong1k churn bulk unix udp openloop idle client)
usage() {
    cat <<EOF
usage: benches/compare.sh [WORKLOAD]...   (env: RUNS=$RUNS DURATION=$DURATION WARMUP=$WARMUP)
workloads (default: all, in this order):
  pingpong    TCP ping-pong, 64 B x 50 connections      echokit, epoll_echo, socat
  pingpong1k  TCP ping-pong, 64 B x 1,000 connections   echokit, epoll_echo
  churn       connect, 64 B, close (-B 16 sources)      echokit, epoll_echo, socat
  bulk        bulk echo, one TCP connection             echokit, epoll_echo, socat, iperf3 (one-way)
  unix        bulk echo, one Unix connection            echokit (unix), iperf3 (one-way TCP)
  udp         UDP 64 B x 50 sockets                     echokit, udp_echo, socat
  openloop    open loop at 50% of each server's own saturated ping-pong rate: p99, p99.9
              (uses the pingpong medians of this invocation, else one calibration run)
  idle        $IDLE_CONNS idle connections: server RSS per connection
  client      echokit bench vs loadgen as the client against epoll_echo: ping-pong, churn, bulk
EOF
}
WORKLOADS=()
for arg in "$@"; do
    case $arg in
        -h|--help) usage; exit 0 ;;
        *) if [[ " ${ALL_WORKLOADS[*]} " == *" $arg "* ]]; then WORKLOADS+=("$arg")
           else echo "compare.sh: unknown workload '$arg'" >&2; usage >&2; exit 2; fi ;;
    esac
done
(( ${#WORKLOADS[@]} )) || WORKLOADS=("${ALL_WORKLOADS[@]}")
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: RUNS must be a positive integer" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "compare.sh: DURATION must be seconds" >&2; exit 2; }
say() { printf '%s\n' "compare.sh: $*" >&2; }

# ---------------------------------------------------------------- processes we start
TMP=$(mktemp -d "${TMPDIR:-/tmp}/echokit-bench.XXXXXX")
declare -A SPID SFD SADDR     # server name -> pid, fd of its stdout fifo, address
declare -A LIVE               # background pids this script started and has not reaped
cleanup() {
    local pid
    for pid in "${!LIVE[@]}"; do stop_pid "$pid"; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop_pid PID: TERM (and the children of a forking server such as socat, by pid),
# wait at most 5 s, then KILL. Only pids this script started get here.
stop_pid() {
    local pid=$1 kid i
    [[ -n ${LIVE[$pid]:-} ]] || return 0
    unset "LIVE[$pid]"
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    for kid in $(pgrep -P "$pid" 2>/dev/null || true); do kill -TERM "$kid" 2>/dev/null || true; done
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# start_ready NAME CMD...: start a server pinned to SERVER_CPU whose first stdout line is
# its address (echokit, epoll_echo and udp_echo print `tcp:127.0.0.1:PORT` once
# listening): no sleep, the read returns when the line is written (at most 10 s).
start_ready() {
    local name=$1 fifo="$TMP/$1.out" fd line; shift
    mkfifo "$fifo"
    taskset -c "$SERVER_CPU" "$@" >"$fifo" 2>"$TMP/$name.err" &
    SPID[$name]=$!; LIVE[$!]=1
    exec {fd}<"$fifo"
    SFD[$name]=$fd
    if ! read -r -t 10 -u "$fd" line || [[ ! $line =~ ^(tcp|udp|unix): ]]; then
        say "$name did not print its address: ${line:-nothing}; stderr:"; cat "$TMP/$name.err" >&2
        exit 1
    fi
    SADDR[$name]=$line
}

# socat and iperf3 print no line naming the port they bound: started on port 0 they
# would listen on a port this script cannot learn (and iperf3 takes -p 0 as "no port
# given" and uses its default 5201). So a helper binds port 0, reads the number the
# kernel chose and closes it; the server then binds that number. Another process could
# take the port in between: the server then fails to bind and wait_listening says so.
free_port() {   # free_port tcp|udp
    python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}
# wait_listening PROTO PORT PID: poll /proc/net/{tcp,udp} (no probe connection: iperf3
# would take it for a test) for 127.0.0.1:PORT in LISTEN (tcp) or unconnected (udp)
# state; bounded: 200 x 20 ms.
wait_listening() {
    local proto=$1 port=$2 pid=$3 want i
    want=$(printf '0100007F:%04X' "$port")
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if [[ $proto == tcp ]]; then
            awk -v a="$want" '$2 == a && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp && return 0
        else
            awk -v a="$want" '$2 == a && $4 == "07" { f = 1 } END { exit !f }' /proc/net/udp && return 0
        fi
        sleep 0.02
    done
    return 1
}
# start_port NAME PROTO PORT CMD...: start a server that prints nothing, then wait for it.
start_port() {
    local name=$1 proto=$2 port=$3; shift 3
    taskset -c "$SERVER_CPU" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    SPID[$name]=$!; LIVE[$!]=1
    if ! wait_listening "$proto" "$port" "${SPID[$name]}"; then
        say "$name is not listening on $proto 127.0.0.1:$port; stderr:"; cat "$TMP/$name.err" >&2
        exit 1
    fi
    SADDR[$name]="$proto:127.0.0.1:$port"
}
stop_server() {
    local name=$1 fd
    [[ -n ${SPID[$name]:-} ]] || return 0
    stop_pid "${SPID[$name]}"
    if [[ -n ${SFD[$name]:-} ]]; then fd=${SFD[$name]}; exec {fd}<&-; unset "SFD[$name]"; fi
    rm -f "$TMP/$name.out"
    unset "SPID[$name]" "SADDR[$name]"
}
stop_all() { local n; for n in "${!SPID[@]}"; do stop_server "$n"; done; }

# start NAME: the servers by name. Every one on 127.0.0.1 port 0 or a temporary path.
start() {
    local name=$1 port
    case $name in
        echokit)      start_ready "$name" "$ECHOKIT" serve tcp:127.0.0.1:0 ;;
        echokit-udp)  start_ready "$name" "$ECHOKIT" serve udp:127.0.0.1:0 ;;
        echokit-unix) start_ready "$name" "$ECHOKIT" serve "unix:$TMP/echokit.sock" ;;
        epoll_echo)   start_ready "$name" "$BUILD_DIR/epoll_echo" 127.0.0.1 0 ;;
        udp_echo)     start_ready "$name" "$BUILD_DIR/udp_echo" 127.0.0.1 0 ;;
        # socat's echo idiom: a child per connection (per datagram for UDP) looping the
        # bytes back through PIPE; nodelay as epoll_echo and echokit set it.
        socat)        port=$(free_port tcp)
                      start_port "$name" tcp "$port" socat "TCP4-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,backlog=4096,nodelay" PIPE ;;
        socat-udp)    port=$(free_port udp)
                      start_port "$name" udp "$port" socat "UDP4-RECVFROM:$port,bind=127.0.0.1,fork" PIPE ;;
        iperf3)       port=$(free_port tcp)
                      start_port "$name" tcp "$port" iperf3 -s -B 127.0.0.1 -p "$port" ;;
        *) say "no server named $name"; exit 1 ;;
    esac
}

# ---------------------------------------------------------------- measuring
CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID: utime+stime+cutime+cstime of PID and of its direct children (socat
# forks one per connection; a child that exits moves its time into our cutime/cstime
# once reaped, so the sum stays continuous). Threads are included by /proc/PID/stat.
cpu_ticks() {
    local total=0 p line f
    for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
        { read -r line <"/proc/$p/stat"; } 2>/dev/null || continue
        read -r -a f <<<"${line##*) }"   # fields from 3 (state) on: utime is field 14
        total=$((total + f[11] + f[12] + f[13] + f[14]))
    done
    echo "$total"
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
kv() { # kv KEY LINE: the value of KEY= in loadgen's key=value line
    local k=$1 w; shift
    for w in $*; do [[ $w == "$k="* ]] && { echo "${w#*=}"; return 0; }; done
    echo nan
}
BAD_RUNS=0
check_clean() {   # check_clean WHAT LINE STATUS: loadgen must verify every byte
    local errs mism
    errs=$(kv errors "$2"); mism=$(kv mismatches "$2")
    if [[ $3 != 0 || $errs != 0 || $mism != 0 ]]; then
        BAD_RUNS=$((BAD_RUNS + 1))
        say "$1: exit $3, errors=$errs mismatches=$mism: ${2:-no output}"
        [[ -s $TMP/client.err ]] && head -3 "$TMP/client.err" >&2
    fi
    return 0
}
LIMIT=$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 30 }')

# loadgen_run SERVER MODE ARGS...: run loadgen on CLIENT_CPU against SERVER, bounded by
# `timeout`; sets LG (its output line), CLIENT_PCT (its cpu_pct) and CPU_US (server CPU
# in us, from the end of the warm-up to the end of the run, when loadgen's measured
# window starts).
loadgen_run() {
    local server=$1 mode=$2 pid c0 c1 status=0; shift 2
    local spid=${SPID[$server]}
    c0=$(cpu_ticks "$spid")
    timeout -k 2 "$LIMIT" taskset -c "$CLIENT_CPU" "$LOADGEN" "$mode" -d "$DURATION" -w "$WARMUP" "$@" \
        "${SADDR[$server]}" >"$TMP/client.out" 2>"$TMP/client.err" &
    pid=$!; LIVE[$pid]=1
    if [[ $WARMUP != 0 ]]; then sleep "$WARMUP"; c0=$(cpu_ticks "$spid"); fi
    wait "$pid" || status=$?
    unset "LIVE[$pid]"
    c1=$(cpu_ticks "$spid")
    LG=$(tail -n 1 "$TMP/client.out")
    CPU_US=$(( (c1 - c0) * 1000000 / CLK_TCK ))
    CLIENT_PCT=$(kv cpu_pct "$LG")
    [[ ${VERBOSE:-0} == 0 ]] || say "loadgen $mode on $server: $LG"
    check_clean "loadgen $mode on $server" "$LG" "$status"
    if [[ $mode != idle && $(kv reqs "$LG") == 0 && $(kv MBps "$LG") == 0.0 ]]; then
        BAD_RUNS=$((BAD_RUNS + 1)); say "loadgen $mode on $server: nothing completed in the measured window: $LG"
    fi
}

# Results: R[workload|server|metric] = "v1 v2 ...", CPU[workload|server] and CLIENT[workload|server] likewise;
# ROWS keeps the order of the table.
declare -A R CPU CLIENT
ROWS=()
CLIENT_PCT=nan
row() { # row WORKLOAD SERVER METRIC UNIT CPU_UNIT REF(server the ratio is against, or -)
    local k="$1|$2|$3"
    [[ " ${ROWS[*]} " == *" $k|"* ]] || ROWS+=("$k|$4|$5|$6")
}
put() { R["$1|$2|$3"]+="$4 "; }
LOWRES=0
put_cpu() { # put_cpu WORKLOAD SERVER CPU_US UNITS: us of server CPU per unit of work
    local v
    # The client's CPU over the same run (CLIENT_PCT, set by whoever ran it), in %:
    # near 100 the rate is the client's limit, not the server's.
    CLIENT["$1|$2"]+="${CLIENT_PCT:-nan} "; CLIENT_PCT=nan
    # /proc/PID/stat counts in clock ticks (10 ms at CLK_TCK=100): under 10 ticks the
    # figure is mostly rounding, so it is left out ("-") rather than shown as 0.
    if (( $3 < 10 * 1000000 / CLK_TCK )); then CPU["$1|$2"]+="nan "; LOWRES=$((LOWRES + 1)); return 0; fi
    v=$(awk -v c="$3" -v n="$4" 'BEGIN { if (n > 0) printf "%.3f", c / n; else print "nan" }')
    CPU["$1|$2"]+="$v "
}
stats() { # stats "v1 v2 ...": median min max (nan values skipped)
    tr ' ' '\n' <<<"$1" | awk 'NF && $1 != "nan"' | sort -g | awk '
        { v[NR] = $1 } END {
            if (!NR) { print "nan nan nan"; exit }
            m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            print m, v[1], v[NR] }'
}
median() { local s; s=$(stats "$1"); echo "${s%% *}"; }

# ---------------------------------------------------------------- the workloads
# closed-loop ping-pong, churn, udp: rate rows with CPU per request
rate_workload() { # rate_workload WORKLOAD LABEL MODE ARGS -- SERVERS...
    local wl=$1 label=$2 mode=$3 run s args=(); shift 3
    while [[ $1 != -- ]]; do args+=("$1"); shift; done; shift
    local servers=("$@")
    for s in "${servers[@]}"; do row "$wl" "$s" "$label" "$UNIT" "$CPU_UNIT" "${servers[0]}"; start "$s"; done
    for ((run = 1; run <= RUNS; run++)); do
        for s in "${servers[@]}"; do
            loadgen_run "$s" "$mode" "${args[@]}"
            put "$wl" "$s" "$label" "$(kv rps "$LG")"
            put_cpu "$wl" "$s" "$CPU_US" "$(kv reqs "$LG")"
        done
    done
    stop_all
}

wl_pingpong()   { UNIT=req/s CPU_UNIT=us/req;   rate_workload pingpong   "ping-pong 64 B x 50"    pingpong -c 50 -s 64 -- echokit epoll_echo socat; }
wl_pingpong1k() { UNIT=req/s CPU_UNIT=us/req;   rate_workload pingpong1k "ping-pong 64 B x 1000"  pingpong -c 1000 -s 64 -- echokit epoll_echo; }
wl_churn()      { UNIT=conn/s CPU_UNIT=us/conn; rate_workload churn      "churn 64 B (-B 16)"     churn -c 50 -s 64 -B 16 -- echokit epoll_echo socat; }
wl_udp()        { UNIT=dgram/s CPU_UNIT=us/dgram; rate_workload udp      "UDP 64 B x 50"          udp -c 50 -s 64 -- echokit-udp udp_echo socat-udp; }

# iperf3 as the one-way single-stream loopback reference: client on CLIENT_CPU sends to
# the server on SERVER_CPU for ceil(DURATION) s (iperf3 takes whole seconds);
# end.sum_received.bits_per_second / 8 is the goodput. Server CPU per MB received.
iperf3_run() { # iperf3_run WORKLOAD LABEL
    local wl=$1 label=$2 secs c0 c1 status=0 mbps mb
    secs=$(awk -v d="$DURATION" 'BEGIN { s = int(d); if (s < d) s++; if (s < 1) s = 1; print s }')
    c0=$(cpu_ticks "${SPID[iperf3]}")
    timeout -k 2 "$((secs + 30))" taskset -c "$CLIENT_CPU" iperf3 -c 127.0.0.1 -p "${SADDR[iperf3]##*:}" \
        -t "$secs" -J >"$TMP/iperf3.json" 2>"$TMP/client.err" || status=$?
    c1=$(cpu_ticks "${SPID[iperf3]}")
    read -r mbps mb CLIENT_PCT < <(python3 -c 'import json, sys
try:
    end = json.load(open(sys.argv[1]))["end"]
    e = end["sum_received"]
    print(e["bits_per_second"] / 8e6, e["bytes"] / 1e6, end["cpu_utilization_percent"]["host_total"])
except Exception:
    print("nan nan nan")' "$TMP/iperf3.json")
    [[ $status == 0 && $mbps != nan ]] || { BAD_RUNS=$((BAD_RUNS + 1)); say "iperf3 run failed (exit $status)"; }
    put "$wl" iperf3 "$label" "$mbps"
    put_cpu "$wl" iperf3 "$(( (c1 - c0) * 1000000 / CLK_TCK ))" "$mb"
}
bulk_workload() { # bulk_workload WORKLOAD LABEL SERVERS... (iperf3 last, one-way)
    local wl=$1 label=$2 run s mb; shift 2
    local servers=("$@")
    for s in "${servers[@]}"; do row "$wl" "$s" "$label" MB/s us/MB "${servers[0]}"; start "$s"; done
    for ((run = 1; run <= RUNS; run++)); do
        for s in "${servers[@]}"; do
            if [[ $s == iperf3 ]]; then iperf3_run "$wl" "$label"; continue; fi
            loadgen_run "$s" bulk
            put "$wl" "$s" "$label" "$(kv MBps "$LG")"
            mb=$(awk -v r="$(kv MBps "$LG")" -v t="$(kv secs "$LG")" 'BEGIN { printf "%.3f", r * t }')
            put_cpu "$wl" "$s" "$CPU_US" "$mb"
        done
    done
    stop_all
}
wl_bulk() { bulk_workload bulk "bulk, one TCP conn" echokit epoll_echo socat iperf3; }
wl_unix() { bulk_workload unix "bulk, one Unix conn" echokit-unix iperf3; }

# open loop at 50% of each server's own saturated rate (this invocation's ping-pong
# median, or one calibration run). loadgen sets its timer slack to 1 ns itself
# (prctl(PR_SET_TIMERSLACK, 1)), as the peers README asks.
wl_openloop() {
    local run s rate sat
    local servers=(echokit epoll_echo)
    declare -A RATE
    for s in "${servers[@]}"; do
        start "$s"
        sat=$(median "${R[pingpong|$s|ping-pong 64 B x 50]:-}")
        if [[ $sat == nan ]]; then
            loadgen_run "$s" pingpong -c 50 -s 64; sat=$(kv rps "$LG")
            say "open loop: $s saturates at $sat req/s (calibration run)"
        fi
        RATE[$s]=$(awk -v r="$sat" 'BEGIN { if (r + 0 >= 2) printf "%d", r / 2; else print 0 }')
        if [[ ${RATE[$s]} == 0 ]]; then
            BAD_RUNS=$((BAD_RUNS + 1)); say "open loop: no saturated rate for $s ($sat): skipped"
        fi
    done
    for s in "${servers[@]}"; do row openloop "$s" "open loop 50%: p99" us us/req echokit; done
    for s in "${servers[@]}"; do row openloop "$s" "open loop 50%: p99.9" us - echokit; done
    for ((run = 1; run <= RUNS; run++)); do
        for s in "${servers[@]}"; do
            [[ ${RATE[$s]} != 0 ]] || continue
            loadgen_run "$s" pingpong -c 50 -s 64 -r "${RATE[$s]}"
            put openloop "$s" "open loop 50%: p99" "$(kv p99_us "$LG")"
            put openloop "$s" "open loop 50%: p99.9" "$(kv p999_us "$LG")"
            put_cpu openloop "$s" "$CPU_US" "$(kv reqs "$LG")"
        done
    done
    OPEN_RATES="echokit ${RATE[echokit]} req/s, epoll_echo ${RATE[epoll_echo]} req/s"
    stop_all
}

# idle: a fresh server per run; VmRSS before, and after loadgen has opened IDLE_CONNS
# connections and echoed 64 B once on each ("idle ready N" line), divided by N. The
# accept rate is IDLE_CONNS over the time from loadgen's start until the server holds
# them all (its open descriptors, sampled every 10 ms). Over 20,000 connections the
# client spreads them over 127.0.0.1-8 (-B 8) for enough ephemeral ports.
wl_idle() {
    local run s before after fifo fd line pid status fds0 sampler accept_s
    local label="$IDLE_CONNS idle conns" alabel="accepting $IDLE_CONNS" sources=()
    (( IDLE_CONNS > 20000 )) && sources=(-B 8)
    local servers=(echokit epoll_echo)
    for s in "${servers[@]}"; do row idle "$s" "$label" B/conn - echokit; done
    for s in "${servers[@]}"; do row idle "$s" "$alabel" conn/s - echokit; done
    for ((run = 1; run <= RUNS; run++)); do
        for s in "${servers[@]}"; do
            start "$s"
            before=$(rss_kb "${SPID[$s]}")
            fds0=$(find "/proc/${SPID[$s]}/fd" -mindepth 1 -maxdepth 1 | wc -l)
            # The sampler says "sampling" once it has looked; loadgen starts only then,
            # so the clock does not include the sampler's own start.
            python3 -c 'import os, sys, time
pid, want, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
os.listdir(f"/proc/{pid}/fd")
print("sampling", flush=True)
t0 = time.monotonic()
while time.monotonic() - t0 < limit:
    try:
        if len(os.listdir(f"/proc/{pid}/fd")) >= want:
            print(f"{time.monotonic() - t0:.3f}"); sys.exit(0)
    except OSError:
        break
    time.sleep(0.01)
print("nan")' "${SPID[$s]}" "$((fds0 + IDLE_CONNS))" "$((IDLE_CONNS / 50 + LIMIT))" >"$TMP/accept.out" &
            sampler=$!; LIVE[$sampler]=1
            for _ in $(seq 500); do [[ -s $TMP/accept.out ]] && break; sleep 0.01; done
            fifo="$TMP/idle.out"; mkfifo "$fifo"
            timeout -k 2 "$((IDLE_CONNS / 50 + LIMIT))" taskset -c "$CLIENT_CPU" "$LOADGEN" idle \
                -c "$IDLE_CONNS" -s 64 "${sources[@]}" -d "$DURATION" "${SADDR[$s]}" >"$fifo" 2>"$TMP/client.err" &
            pid=$!; LIVE[$pid]=1
            exec {fd}<"$fifo"
            line=; read -r -t "$((IDLE_CONNS / 50 + LIMIT))" -u "$fd" line || true
            after=$(rss_kb "${SPID[$s]}")
            wait "$sampler" || true; unset "LIVE[$sampler]"
            accept_s=$(tail -n 1 "$TMP/accept.out")
            status=0; wait "$pid" || status=$?
            unset "LIVE[$pid]"
            exec {fd}<&-; rm -f "$fifo"
            if [[ $line == "idle ready $IDLE_CONNS "* ]]; then
                check_clean "loadgen idle on $s" "$line" "$status"
                put idle "$s" "$label" "$(( (after - before) * 1024 / IDLE_CONNS ))"
                put idle "$s" "$alabel" "$(awk -v n="$IDLE_CONNS" -v t="$accept_s" 'BEGIN { if (t == "nan" || t <= 0) print "nan"; else printf "%.1f", n / t }')"
            else
                BAD_RUNS=$((BAD_RUNS + 1)); say "loadgen idle on $s: ${line:-no ready line} (exit $status)"
                head -3 "$TMP/client.err" >&2
            fi
            stop_server "$s"
        done
    done
}

# client: echokit bench vs loadgen as the client, each against one epoll_echo, in three
# workloads: ping-pong 64 B x 50, churn (-c 50, 64 B, sources 127.0.0.1-16) and bulk (one
# connection). Both count from their first request (loadgen -w 0, as echokit bench has no
# warm-up) and both verify every byte. Bulk rates are bytes echoed per second (10^6).
wl_client() {
    start epoll_echo
    client_workload client "client ping-pong" req/s us/req requests \
        "pingpong -c 50 -s 64" "-c 50 -s 64"
    client_workload client_churn "client churn" conn/s us/conn requests \
        "churn -c 50 -s 64 -B 16" "--churn -c 50 -s 64"
    client_workload client_bulk "client bulk" MB/s us/MB bytes \
        "bulk" "--bulk"
    stop_all
}
client_workload() { # NAME LABEL UNIT CPU_UNIT COUNT(requests|bytes) "LOADGEN ARGS" "BENCH ARGS"
    local name=$1 label=$2 unit=$3 cpu_unit=$4 count=$5 lg_args=$6 bench_args=$7
    local run status c0 c1 out rate work errs mism
    row "$name" "echokit bench" "$label" "$unit" "$cpu_unit" "echokit bench"
    row "$name" loadgen "$label" "$unit" "$cpu_unit" "echokit bench"
    for ((run = 1; run <= RUNS; run++)); do
        # shellcheck disable=SC2086 # the argument lists are meant to split
        WARMUP=0 loadgen_run epoll_echo $lg_args
        if [[ $count == bytes ]]; then
            put "$name" loadgen "$label" "$(kv MBps "$LG")"
            put_cpu "$name" loadgen "$CPU_US" "$(awk -v m="$(kv MBps "$LG")" -v t="$(kv secs "$LG")" 'BEGIN { print m * t }')"
        else
            put "$name" loadgen "$label" "$(kv rps "$LG")"
            put_cpu "$name" loadgen "$CPU_US" "$(kv reqs "$LG")"
        fi
        status=0; c0=$(cpu_ticks "${SPID[epoll_echo]}")
        # shellcheck disable=SC2086
        timeout -k 2 "$LIMIT" taskset -c "$CLIENT_CPU" "$ECHOKIT" bench "${SADDR[epoll_echo]}" \
            $bench_args -d "$DURATION" --json >"$TMP/client.out" 2>"$TMP/client.err" || status=$?
        c1=$(cpu_ticks "${SPID[epoll_echo]}")
        out=$(python3 -c 'import json, sys
try:
    j = json.load(open(sys.argv[1]))
    cpu = j.get("client_cpu")
    cpu = "nan" if cpu is None else 100 * cpu
    if sys.argv[2] == "bytes":
        print(j["bytes_per_s"] / 1e6, j["bytes"] / 1e6, j["errors"], j["mismatches"], cpu)
    else:
        print(j["requests_per_s"], j["requests"], j["errors"], j["mismatches"], cpu)
except Exception:
    print("nan 0 nan nan nan")' "$TMP/client.out" "$count")
        read -r rate work errs mism CLIENT_PCT <<<"$out"
        check_clean "echokit bench $bench_args on epoll_echo" "errors=$errs mismatches=$mism" "$status"
        put "$name" "echokit bench" "$label" "$rate"
        put_cpu "$name" "echokit bench" "$(( (c1 - c0) * 1000000 / CLK_TCK ))" "$work"
    done
}

# ---------------------------------------------------------------- build
build() {
    local src
    mkdir -p "$BUILD_DIR"
    for src in epoll_echo udp_echo loadgen; do
        [[ -f $PEERS/$src.c ]] || { say "no $PEERS/$src.c (set PEERS=)"; exit 1; }
        if [[ ! -x $BUILD_DIR/$src || $PEERS/$src.c -nt $BUILD_DIR/$src ]]; then
            gcc -O2 -o "$BUILD_DIR/$src" "$PEERS/$src.c"
        fi
    done
    LOADGEN=$BUILD_DIR/loadgen
    say "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet)
    ECHOKIT=${CARGO_TARGET_DIR:-$ROOT/target}/release/echokit
    [[ -x $ECHOKIT ]] || { say "no $ECHOKIT after cargo build"; exit 1; }
}
need_tools() {
    local missing=() t
    for t in socat iperf3; do command -v "$t" >/dev/null || missing+=("$t"); done
    if (( ${#missing[@]} )); then
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
            say "installing ${missing[*]} (apt-get)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >"$TMP/apt.log" 2>&1 \
                || { apt-get update >>"$TMP/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >>"$TMP/apt.log" 2>&1; } \
                || say "apt-get install ${missing[*]} failed (see above); their columns are skipped"
        else
            say "${missing[*]} missing and not root: run 'apt-get install -y socat iperf3' as root; their columns are skipped"
        fi
    fi
    for t in python3 taskset gcc cargo pgrep timeout; do
        command -v "$t" >/dev/null || { say "$t is required"; exit 1; }
    done
    (( $(nproc) >= 2 )) || say "fewer than 2 CPUs: server and client share CPU 0"
    (( $(nproc) >= 2 )) || SERVER_CPU=0
}
# without socat/iperf3, drop those servers from the workloads
have() { command -v "$1" >/dev/null; }
filter_servers() {
    if ! have socat; then
        wl_pingpong()   { UNIT=req/s CPU_UNIT=us/req;   rate_workload pingpong "ping-pong 64 B x 50" pingpong -c 50 -s 64 -- echokit epoll_echo; }
        wl_churn()      { UNIT=conn/s CPU_UNIT=us/conn; rate_workload churn "churn 64 B (-B 16)" churn -c 50 -s 64 -B 16 -- echokit epoll_echo; }
        wl_udp()        { UNIT=dgram/s CPU_UNIT=us/dgram; rate_workload udp "UDP 64 B x 50" udp -c 50 -s 64 -- echokit-udp udp_echo; }
    fi
    if ! have iperf3; then
        wl_unix() { say "unix: no iperf3, echokit only"; bulk_workload unix "bulk, one Unix conn" echokit-unix; }
    fi
    local b="bulk_workload bulk \"bulk, one TCP conn\" echokit epoll_echo"
    have socat && b+=" socat"; have iperf3 && b+=" iperf3"
    eval "wl_bulk() { $b; }"
}
raise_nofile() {
    local want=$((IDLE_CONNS + 2048))
    if (( $(ulimit -Hn) < want )); then ulimit -Hn "$want" 2>/dev/null || true; fi
    ulimit -Sn "$(( $(ulimit -Hn) < want ? $(ulimit -Hn) : want ))"
    (( $(ulimit -Sn) >= want )) || say "ulimit -n is $(ulimit -Sn): the idle workload needs $want (run as root or lower IDLE_CONNS)"
}

# ---------------------------------------------------------------- table
fmt() { # fmt VALUE UNIT
    awk -v v="$1" -v u="$2" 'BEGIN {
        if (v == "nan") { print "-"; exit }
        if (u ~ /\/s$/ && u != "MB/s" && v >= 10000) printf "%.1fk", v / 1000
        else if (v >= 100) printf "%.0f", v
        else if (v >= 10) printf "%.1f", v
        else printf "%.2f", v }'
}
cell() { # cell "values" UNIT: median [min..max]
    local m lo hi
    read -r m lo hi <<<"$(stats "$1")"
    [[ $m == nan ]] && { echo "-"; return; }
    if [[ $RUNS == 1 ]]; then fmt "$m" "$2"; else echo "$(fmt "$m" "$2") [$(fmt "$lo" "$2")..$(fmt "$hi" "$2")]"; fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "-"; else printf "%.2fx", a / b }'; }
print_table() {
    local r wl s metric unit cpu_unit ref last="" rate_cell cpu_cell client_cell rr cr
    echo
    echo "echokit vs reference peers (benches/compare.sh), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "kernel $(uname -r), $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "echokit $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'); server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU;" \
         "RUNS=$RUNS DURATION=${DURATION}s WARMUP=${WARMUP}s; median [min..max] of $RUNS"
    echo
    printf '%-24s %-14s %-30s %-28s %-12s %s\n' workload server "median [min..max]" "server CPU" "client CPU" "echokit/peer (rate, CPU)"
    printf '%-24s %-14s %-30s %-28s %-12s %s\n' -------- ------ ----------------- ---------- ---------- ------------------------
    for r in "${ROWS[@]}"; do
        IFS='|' read -r wl s metric unit cpu_unit ref <<<"$r"
        rate_cell="$(cell "${R[$wl|$s|$metric]:-}" "$unit") $unit"
        if [[ $cpu_unit == - ]]; then cpu_cell=""; else cpu_cell="$(cell "${CPU[$wl|$s]:-}" x) $cpu_unit"; fi
        client_cell=""
        if [[ $cpu_unit != - ]]; then
            client_cell=$(fmt "$(median "${CLIENT[$wl|$s]:-}")" %); [[ $client_cell == - ]] || client_cell+="%"
        fi
        rr=""
        if [[ $s != "$ref" ]]; then
            # the echokit row of this workload is its first row (ref)
            rr="$(ratio "$(median "${R[$wl|$ref|$metric]:-}")" "$(median "${R[$wl|$s|$metric]:-}")")"
            if [[ $cpu_unit != - ]]; then
                cr=$(ratio "$(median "${CPU[$wl|$ref]:-}")" "$(median "${CPU[$wl|$s]:-}")")
                rr+=", $cr"
            fi
        fi
        printf '%-24s %-14s %-30s %-28s %-12s %s\n' "$([[ $metric != "$last" ]] && echo "$metric")" "$s" "$rate_cell" "$cpu_cell" "$client_cell" "$rr"
        last=$metric
    done
    echo
    echo "Ratios: the first row of each workload (echokit; echokit bench for the client row) over that row, from medians of this run;"
    echo "for rates higher is better, for CPU per unit, latency and RSS lower is better. iperf3 is one-way"
    echo "(its rate is bytes received; an echo moves every byte twice). Server CPU: utime+stime of the server"
    echo "(and socat's children) from /proc/PID/stat over the measured window, per request done. Client CPU: the"
    echo "median share of its core the client used in those runs (loadgen's cpu_pct, iperf3's host_total, echokit bench's"
    echo "busiest thread); near 100% the rate is the client's limit, and the server's CPU per request is the figure to compare."
    [[ -n ${OPEN_RATES:-} ]] && echo "Open-loop rates (50% of each server's saturated ping-pong median): $OPEN_RATES."
    if (( LOWRES )); then echo "$LOWRES server CPU sample(s) under 10 clock ticks left out (shown as -): runs too short."; fi
    if (( BAD_RUNS )); then echo "WARNING: $BAD_RUNS run(s) had errors, mismatches or a failed client (see stderr)."; fi
    return 0
}

# ---------------------------------------------------------------- main
need_tools
filter_servers
build
raise_nofile
say "workloads: ${WORKLOADS[*]}; RUNS=$RUNS DURATION=$DURATION"
for wl in "${WORKLOADS[@]}"; do
    say "running $wl"
    "wl_$wl"
done
print_table
