#!/usr/bin/env bash
# tests/soak.sh: a soak of one `echokit serve` (issue 8, point 7). Not run in CI.
#
# It starts one server on five transports at once, all on loopback or in a
# temporary directory (tcp 127.0.0.1:0, udp 127.0.0.1:0, a unix stream path, a
# unixgram path, a seqpacket path), reads its ready lines, and for SOAK_SECONDS
# (default 600) runs in parallel:
#   - churn: `echokit send --file P ADDR | cmp - P` in a loop over tcp, unix and
#     seqpacket: connect, send, verify every byte, close, again;
#   - long-lived connections: `echokit bench` rounds of up to BENCH_ROUND seconds
#     (default 60) on tcp, unix and seqpacket, each connection echoing for the
#     whole round; bench checks every byte and counts errors and mismatches;
#   - datagrams: `echokit send -u` loops and `echokit bench -u` rounds on udp
#     and unixgram;
#   - mixed datagram senders (Python, when python3 is there): Unix paths and
#     abstract names of random lengths, autobound and unbound sockets, UDP from
#     127.0.0.N, in bursts to the udp and unixgram listeners; an echo that
#     reaches a socket that did not send it is a misdelivery, counted apart
#     from losses (a datagram with no echo within 2 s);
#   - hostile peers (Python): a slow sender (a byte every 50 ms), a peer
#     that sends megabytes and never reads (held back, then gone), a peer
#     that resets mid-echo (SO_LINGER 0), and datagram senders whose names
#     hold newlines and escape characters; each must leave the others and
#     the server's descriptors and RSS as they were.
# Every loop stops by itself at the deadline and after at most MAX_ITERATIONS
# rounds; every command runs under `timeout`. The server's descriptor count
# (/proc/PID/fd) and VmRSS (/proc/PID/status) are sampled at the start (idle),
# at 10 %, 50 % and 90 % of the run (under load) and at the end (load stopped,
# connections closed). At the end it prints those and the totals.
#
# Exit status: 0 when every echo came back intact, the descriptors at the end
# are back to the start (at most FD_SLACK more, default 2), and RSS under load
# did not grow from 10 % to 90 % by more than RSS_SLACK_KB (default 4096) nor
# from 90 % to the end; 1 otherwise; 2 on a set-up failure. It ends only the
# processes it started, by pid, and removes its temporary directory.
#
# Usage: cargo build --release && tests/soak.sh
#        SOAK_SECONDS=60 tests/soak.sh             # a shorter run
#        ECHOKIT=path/to/echokit tests/soak.sh     # another binary
set -u -o pipefail

SOAK_SECONDS=${SOAK_SECONDS:-600}
BENCH_ROUND=${BENCH_ROUND:-60}
MAX_ITERATIONS=${MAX_ITERATIONS:-1000000}
FD_SLACK=${FD_SLACK:-2}
RSS_SLACK_KB=${RSS_SLACK_KB:-4096}
here=$(cd "$(dirname "$0")/.." && pwd)
ECHOKIT=${ECHOKIT:-$here/target/release/echokit}

die() { echo "soak: $*" >&2; exit 2; }
[[ -x $ECHOKIT ]] || die "no binary at $ECHOKIT (run cargo build --release first)"
[[ $SOAK_SECONDS =~ ^[0-9]+$ && $SOAK_SECONDS -ge 10 ]] || die "SOAK_SECONDS must be a number >= 10"

dir=$(mktemp -d "${TMPDIR:-/tmp}/echokit-soak.XXXXXX") || die "cannot make a temp dir"
server=""
workers=()
cleanup() {
    # Only what this script started, by pid: the workers (each command they run
    # is bounded by `timeout`), their running command, then the server.
    local pid kids
    for pid in "${workers[@]}"; do
        kids=$(pgrep -P "$pid")
        kill "$pid" 2>/dev/null
        # shellcheck disable=SC2086 # one pid a word
        [[ -n $kids ]] && kill $kids 2>/dev/null
    done
    [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    exec 3<&-
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the server and its ready lines ------------------------------------------
mkfifo "$dir/ready"
exec 3<>"$dir/ready" # held open read-write: opening it never blocks
"$ECHOKIT" serve -q tcp:127.0.0.1:0 udp:127.0.0.1:0 "$dir/s.sock" \
    "unixgram:$dir/d.sock" "seqpacket:$dir/p.sock" >"$dir/ready" 2>"$dir/serve.err" &
server=$!
declare -A addr
for _ in 1 2 3 4 5; do
    IFS= read -r -t 10 line <&3 || die "no ready line within 10s: $(cat "$dir/serve.err")"
    addr[${line%%:*}]=$line
done
for t in tcp udp unix unixgram seqpacket; do
    [[ -n ${addr[$t]:-} ]] || die "no ready line for $t"
done

fds() { ls "/proc/$server/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
declare -a sample_name sample_fds sample_rss sample_at
sample() {
    sample_name+=("$1")
    sample_fds+=("$(fds)")
    sample_rss+=("$(rss_kb)")
    sample_at+=("$((SECONDS - start))s")
}

# --- payloads ---------------------------------------------------------------
head -c 1 /dev/urandom >"$dir/p1"
head -c 4096 /dev/urandom >"$dir/p4k"
head -c 60000 /dev/urandom >"$dir/p60k"  # within --buffer-size (64 KiB) and a UDP datagram
head -c 3000000 /dev/urandom >"$dir/p3m" # more than the socket buffers hold

# --- the workers --------------------------------------------------------------
start=$SECONDS
end=$((start + SOAK_SECONDS))

# send_loop NAME ADDR FLAGS PAYLOAD...: one connection (or datagram exchange) per
# echo, its output compared byte for byte with cmp.
send_loop() {
    local name=$1 target=$2 flags=$3 ok=0 bad=0 mismatch=0 i=0 p
    shift 3
    trap - INT TERM EXIT # a worker ends at once when told; cleanup is the main shell's
    while ((SECONDS < end && i < MAX_ITERATIONS)); do
        for p in "$@"; do
            # shellcheck disable=SC2086 # FLAGS is empty or one flag
            timeout 30 "$ECHOKIT" send $flags --timeout 20s --file "$dir/$p" "$target" \
                2>>"$dir/$name.err" | cmp -s - "$dir/$p"
            case "${PIPESTATUS[0]}:${PIPESTATUS[1]}" in
            0:0) ok=$((ok + 1)) ;;
            0:* | 1:*) mismatch=$((mismatch + 1)) ;; # send found it, or cmp did
            *) bad=$((bad + 1)) ;;
            esac
        done
        i=$((i + 1))
    done
    echo "$name $ok $bad $mismatch" >"$dir/$name.result"
}

# bench_loop NAME ADDR FLAGS CONNECTIONS SIZE: rounds of long-lived connections.
bench_loop() {
    local name=$1 target=$2 flags=$3 conns=$4 size=$5 ok=0 bad=0 mismatch=0 i=0 left round out
    trap - INT TERM EXIT
    while ((SECONDS < end - 1 && i < MAX_ITERATIONS)); do
        left=$((end - SECONDS))
        round=$((left < BENCH_ROUND ? left : BENCH_ROUND))
        # shellcheck disable=SC2086
        # Into a file, not $(...): timeout stays this worker's own child, so cleanup reaches it.
        timeout $((round + 30)) "$ECHOKIT" bench $flags --json -c "$conns" -s "$size" \
            -d "${round}s" "$target" >"$dir/$name.out" 2>>"$dir/$name.err"
        local code=$?
        out=$(<"$dir/$name.out")
        if [[ $out =~ \"errors\":([0-9]+).*\"mismatches\":([0-9]+).*\"requests\":([0-9]+) ]]; then
            bad=$((bad + BASH_REMATCH[1]))
            mismatch=$((mismatch + BASH_REMATCH[2]))
            ok=$((ok + BASH_REMATCH[3])) # requests: completed and verified
        fi
        if ((code != 0 && code != 1)); then
            bad=$((bad + 1))
            echo "bench exited $code" >>"$dir/$name.err"
        fi
        i=$((i + 1))
    done
    echo "$name $ok $bad $mismatch" >"$dir/$name.result"
}

# mixed_senders NAME UDP_ADDR UNIXGRAM_PATH: see the header. Its result line's
# columns: echoes, losses (as errors), misdeliveries (as mismatches).
mixed_senders() {
    local name=$1
    trap - INT TERM EXIT
    timeout $((end - SECONDS + 30)) python3 - "$2" "$3" "$dir" "$end_epoch" "$MAX_ITERATIONS" \
        >"$dir/$name.counts" 2>>"$dir/$name.err" <<'PY'
import os, random, socket, sys, time
udp, unix_path, tmp, end, max_rounds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
host, port = udp.rsplit(":", 1)
port = int(port)
ok = lost = misdelivered = 0
rounds = 0
alphabet = "abcdefghijklmnopqrstuvwxyz0123456789.-_"
def rname(n):
    return "".join(random.choice(alphabet) for _ in range(n))
while time.time() < end and rounds < max_rounds:
    rounds += 1
    senders = []
    for k in range(random.randint(1, 6)):
        shape = random.choice(["path", "abstract", "autobind", "unbound", "udp"])
        if shape == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.%d" % random.randint(1, 9), 0))
            target = (host, port)
        else:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            if shape == "path":
                room = 107 - len(tmp) - 1
                s.bind(os.path.join(tmp, ("m%d-" % random.randint(0, 10**9) + rname(room))[:random.randint(1, room)]))
            elif shape == "abstract":
                s.bind("\0" + rname(random.randint(4, 107)))
            elif shape == "autobind":
                s.bind("")
            target = unix_path
        s.settimeout(2)
        senders.append((shape, s, target, []))
    for seq in range(random.randint(1, 16)):
        shape, s, target, sent = random.choice(senders)
        if len(sent) >= 8:
            continue
        payload = b"%d.%d|" % (rounds, seq) + os.urandom(random.randint(0, 3000))
        s.sendto(payload, target)
        if shape != "unbound":
            sent.append(payload)
    for shape, s, target, sent in senders:
        while sent:
            try:
                got = s.recv(70000)
            except OSError:
                lost += len(sent)
                break
            if got in sent:
                sent.remove(got)
                ok += 1
            else:
                misdelivered += 1
        s.setblocking(False)
        try:
            while True:
                s.recv(70000)
                misdelivered += 1
        except OSError:
            pass
        name = s.getsockname()
        s.close()
        if isinstance(name, str) and name.startswith("/"):
            os.unlink(name)
print(ok, lost, misdelivered)
PY
    local counts
    counts=$(<"$dir/$name.counts")
    [[ $counts =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]] || counts="0 1 0"
    echo "$name $counts" >"$dir/$name.result"
}

# hostile_peers NAME TCP_ADDR UNIX_PATH UNIXGRAM_PATH: see the header. Result
# columns: rounds survived (as echoes), errors, misdeliveries (as mismatches).
hostile_peers() {
    local name=$1
    trap - INT TERM EXIT
    timeout $((end - SECONDS + 30)) python3 - "$2" "$3" "$4" "$dir" "$end_epoch" "$MAX_ITERATIONS" \
        >"$dir/$name.counts" 2>>"$dir/$name.err" <<'PY'
import os, socket, struct, sys, time
tcp, unix_path, dgram_path, tmp, end, max_rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), int(sys.argv[6])
host, port = tcp.rsplit(":", 1)
target = (host, int(port))
ok = errors = misdelivered = 0
rounds = 0
def slow():
    s = socket.create_connection(target, timeout=5)
    msg = b"slow-peer-%d" % rounds
    for b in msg:
        s.send(bytes([b]))
        time.sleep(0.05)
    got = b""
    while len(got) < len(msg):
        chunk = s.recv(100)
        if not chunk:
            break
        got += chunk
    s.close()
    return got == msg
def never_reads():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(unix_path)
    s.setblocking(False)
    sent = 0
    try:
        while sent < 8 << 20:
            sent += s.send(b"x" * 65536)
    except BlockingIOError:
        pass          # held back: the server stopped reading us, as it must
    time.sleep(0.5)
    s.close()         # unread echo in our buffer: the server sees a reset
    return sent < 8 << 20
def resets():
    s = socket.create_connection(target, timeout=5)
    s.sendall(os.urandom(65536))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return True
def forged_names():
    names = [os.path.join(tmp, "h\ntcp:10.9.9.9:7\x1b[31m%d" % rounds), "\0h\x1b]0;title\x07\n%d" % rounds]
    good = True
    for n in names:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(n)
        s.settimeout(2)
        msg = b"forged %d" % rounds
        s.sendto(msg, dgram_path)
        try:
            good = good and s.recv(100) == msg
        except OSError:
            good = False
        s.close()
        if not n.startswith("\0"):
            os.unlink(n)
    return good
while time.time() < end and rounds < max_rounds:
    rounds += 1
    for peer in (slow, never_reads, resets, forged_names):
        try:
            if peer():
                ok += 1
            else:
                errors += 1
                print(f"{peer.__name__}: round {rounds} did not end as expected", file=sys.stderr)
        except OSError as e:
            errors += 1
            print(f"{peer.__name__}: round {rounds}: {e}", file=sys.stderr)
print(ok, errors, misdelivered)
PY
    local counts
    counts=$(<"$dir/$name.counts")
    [[ $counts =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]] || counts="0 1 0"
    echo "$name $counts" >"$dir/$name.result"
}

sample start
end_epoch=$(($(date +%s) + end - SECONDS))
if command -v python3 >/dev/null; then
    mixed_senders mixed-dgram "${addr[udp]#udp:}" "${addr[unixgram]#unixgram:}" &
    workers+=($!)
    hostile_peers hostile "${addr[tcp]#tcp:}" "${addr[unix]#unix:}" "${addr[unixgram]#unixgram:}" &
    workers+=($!)
else
    echo "soak: python3 is not installed: no mixed datagram senders" >&2
fi
send_loop churn-tcp "${addr[tcp]}" "" p1 p4k p3m &
workers+=($!)
send_loop churn-unix "${addr[unix]}" "" p1 p4k p3m &
workers+=($!)
send_loop churn-seqpacket "${addr[seqpacket]}" "" p1 p4k p60k &
workers+=($!)
send_loop dgram-udp "${addr[udp]}" "" p1 p4k p60k &
workers+=($!)
send_loop dgram-unixgram "${addr[unixgram]}" "" p1 p4k p60k &
workers+=($!)
bench_loop long-tcp "${addr[tcp]}" "" 8 1KiB &
workers+=($!)
bench_loop long-unix "${addr[unix]}" "" 8 16KiB &
workers+=($!)
bench_loop long-seqpacket "${addr[seqpacket]}" "" 8 4KiB &
workers+=($!)
bench_loop bench-udp "${addr[udp]}" "" 4 512 &
workers+=($!)
bench_loop bench-unixgram "${addr[unixgram]}" "" 4 8KiB &
workers+=($!)

for pct in 10 50 90; do
    at=$((start + SOAK_SECONDS * pct / 100))
    while ((SECONDS < at)); do sleep 1; done
    kill -0 "$server" 2>/dev/null || die "the server died: $(cat "$dir/serve.err")"
    sample "$pct%"
done
for pid in "${workers[@]}"; do wait "$pid"; done
workers=()

# The clients have closed; the server may still be reading their EOFs. Wait for
# the count to settle (at most 10 s) rather than sampling mid-close.
settle=$((SECONDS + 10))
while (($(fds) > sample_fds[0] + FD_SLACK && SECONDS < settle)); do sleep 0.2; done
sample end
kill -0 "$server" 2>/dev/null || die "the server died: $(cat "$dir/serve.err")"

# --- report -------------------------------------------------------------------
echo "echokit soak: ${SOAK_SECONDS}s, server pid $server, $ECHOKIT"
printf '%-8s %6s %6s %10s\n' SAMPLE AT FDS RSS_KB
for i in "${!sample_name[@]}"; do
    printf '%-8s %6s %6s %10s\n' "${sample_name[i]}" "${sample_at[i]}" "${sample_fds[i]}" "${sample_rss[i]}"
done
echo
printf '%-16s %12s %8s %10s\n' WORKER ECHOES ERRORS MISMATCHES
total_ok=0 total_bad=0 total_mismatch=0
for f in "$dir"/*.result; do
    read -r name ok bad mismatch <"$f"
    printf '%-16s %12s %8s %10s\n' "$name" "$ok" "$bad" "$mismatch"
    total_ok=$((total_ok + ok)) total_bad=$((total_bad + bad)) total_mismatch=$((total_mismatch + mismatch))
done
printf '%-16s %12s %8s %10s\n' TOTAL "$total_ok" "$total_bad" "$total_mismatch"
if [[ -f $dir/mixed-dgram.result ]]; then
    read -r _ mixed_ok mixed_lost mixed_misdelivered <"$dir/mixed-dgram.result"
    echo "mixed datagram senders: $mixed_ok echoes, $mixed_lost lost, $mixed_misdelivered misdelivered"
fi

status=0
if ((total_bad + total_mismatch > 0)); then
    echo "FAIL: $total_bad errors, $total_mismatch mismatches; first lines of the workers' stderr:"
    for f in "$dir"/*.err; do [[ -s $f ]] && sed "s|^|  $(basename "$f" .err): |" "$f" | head -3; done
    status=1
fi
fd_start=${sample_fds[0]} fd_end=${sample_fds[4]}
rss_warm=${sample_rss[1]} rss_late=${sample_rss[3]} rss_end=${sample_rss[4]}
if ((fd_end > fd_start + FD_SLACK)); then
    echo "FAIL: descriptors grew from $fd_start to $fd_end"
    status=1
fi
if ((rss_late > rss_warm + RSS_SLACK_KB)); then
    echo "FAIL: RSS under load grew from ${rss_warm} kB (10%) to ${rss_late} kB (90%)"
    status=1
fi
if ((rss_end > rss_late + RSS_SLACK_KB)); then
    echo "FAIL: RSS grew from ${rss_late} kB (90%) to ${rss_end} kB after the load stopped"
    status=1
fi
((status == 0)) && echo "PASS: every echo verified; descriptors and RSS flat"
if [[ -s $dir/serve.err ]]; then
    echo "server stderr (first lines):"
    head -5 "$dir/serve.err"
fi
exit $status
