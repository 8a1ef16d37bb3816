#!/usr/bin/env python3
"""benches/many_connections.py: hold N concurrent TCP connections to echokit on this
machine, then echo 64 bytes on every one of them, and report the servers' RSS per
connection and how fast the connections were accepted (issue 7, target 6).

    benches/many_connections.py                      # 100,000 connections
    benches/many_connections.py -n 19000 --servers 1 # one server process

Every process here (server or client) can hold at most RLIMIT_NOFILE descriptors. Where
the hard limit cannot be raised (no CAP_SYS_RESOURCE, as in some containers), the
connections are spread over as many `echokit serve` processes as that takes, each on its
own port, and as many client processes; with the limit raised (`ulimit -n 200000` as
root, or LimitNOFILE= in a unit) one server holds them all. Clients connect from
127.0.0.1-127.0.0.8 in turn (IP_BIND_ADDRESS_NO_PORT) so ephemeral ports last.

Steps: start the servers (port 0, read the ready line); note each one's VmRSS; start the
clients, which open their connections and say so; time from the first client's start
until the servers hold every connection (their open descriptors, sampled every 10 ms):
that is the accept rate. Then, with all N open at once, every client writes 64 distinct
bytes on each of its connections and checks that exactly those come back; VmRSS again.
Loopback only; every wait is bounded; only processes this script started are stopped,
by pid. Exit 0 when every connection echoed, 1 otherwise.
"""

import argparse
import multiprocessing as mp
import os
import resource
import signal
import socket
import subprocess
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h
SOURCES = 8
PAYLOAD = 64


def die_with_parent():
    """In a server child: SIGTERM when this script dies, however it dies (PR_SET_PDEATHSIG)."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def client(index, port, count, first_source, to_parent, go, done, timeout):
    """Opens `count` connections to 127.0.0.1:port, reports, waits for `go`, echoes on
    each, reports, and holds them until `done`."""
    socks = []
    try:
        for k in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((f"127.0.0.{1 + (first_source + k) % SOURCES}", 0))
            # A blocking connect: Python's connect under a timeout polls for the
            # handshake and is 30 times slower here. A refused or unanswered
            # connect still ends (RST, or the kernel's SYN retries).
            s.connect(("127.0.0.1", port))
            s.settimeout(timeout)
            socks.append(s)
    except OSError as e:
        to_parent.put((index, "error", f"connection {len(socks) + 1} of {count}: {e}"))
        return
    to_parent.put((index, "open", len(socks)))
    if not go.wait(timeout * 10):
        to_parent.put((index, "error", "never told to go"))
        return
    ok = 0
    first_error = None
    for k, s in enumerate(socks):
        want = f"{index:04d}:{k:06d}:".encode().ljust(PAYLOAD, b"x")
        try:
            s.sendall(want)
            got = b""
            while len(got) < PAYLOAD:
                chunk = s.recv(PAYLOAD - len(got))
                if not chunk:
                    raise OSError("closed by the server")
                got += chunk
            if got == want:
                ok += 1
            elif first_error is None:
                first_error = f"connection {k}: {got!r} instead of {want!r}"
        except OSError as e:
            if first_error is None:
                first_error = f"connection {k}: {e}"
    to_parent.put((index, "echoed", ok, first_error))
    done.wait(timeout * 10)  # held open until the parent has read the servers' RSS
    for s in socks:
        s.close()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--connections", type=int, default=100_000)
    p.add_argument("--servers", type=int, default=0,
                   help="echokit serve processes (default: as few as RLIMIT_NOFILE allows)")
    p.add_argument("--echokit", default=os.path.join(os.path.dirname(__file__), "..",
                                                      "target", "release", "echokit"))
    p.add_argument("--timeout", type=float, default=30.0, help="seconds for any one step")
    args = p.parse_args()

    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, args.connections + 1024),) * 2)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    per_process = soft - 256  # room for the process's own descriptors
    n = args.connections
    servers = args.servers or -(-n // per_process)
    clients = -(-n // per_process)
    if -(-n // servers) > per_process:
        sys.exit(f"many_connections: {servers} servers cannot hold {n} connections at "
                 f"RLIMIT_NOFILE {soft}; use --servers {-(-n // per_process)}")
    print(f"RLIMIT_NOFILE {soft} (hard {hard}): {n} connections over {servers} echokit "
          f"serve process(es) and {clients} client process(es)", flush=True)

    procs = []
    try:
        ports = []
        for _ in range(servers):
            sp = subprocess.Popen([args.echokit, "serve", "--workers", "1", "tcp:127.0.0.1:0"],
                                  stdout=subprocess.PIPE, text=True,
                                  preexec_fn=die_with_parent)
            procs.append(sp)
            line = sp.stdout.readline().strip()  # the ready line: tcp:127.0.0.1:PORT
            if not line.startswith("tcp:127.0.0.1:"):
                sys.exit(f"many_connections: no ready line from echokit serve: {line!r}")
            ports.append(int(line.rsplit(":", 1)[1]))
        before = [rss_kib(sp.pid) for sp in procs]
        base = [open_fds(sp.pid) for sp in procs]

        share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
        # Client i talks to server i % servers; how many each server gets:
        expect = [0] * servers
        for i, c in enumerate(share):
            expect[i % servers] += c
        ctx = mp.get_context("fork")
        q, go, done = ctx.Queue(), ctx.Event(), ctx.Event()
        workers = []
        t0 = time.monotonic()
        first = 0
        for i, c in enumerate(share):
            w = ctx.Process(target=client, args=(i, ports[i % servers], c, first, q, go,
                                                 done, args.timeout))
            w.start()
            workers.append(w)
            first += c
        # Accepted: every server holds its share of descriptors.
        accepted_at = None
        while time.monotonic() - t0 < args.timeout * 10:
            if all(open_fds(sp.pid) - b >= e for sp, b, e in zip(procs, base, expect)):
                accepted_at = time.monotonic() - t0
                break
            time.sleep(0.01)
        opened, errors = 0, []
        for _ in workers:
            msg = q.get(timeout=args.timeout * 10)
            if msg[1] == "open":
                opened += msg[2]
            else:
                errors.append(msg[2])
        if errors or accepted_at is None:
            print(f"opened {opened} of {n}: {errors[:3]}", flush=True)
            done.set()
            go.set()
            return 1
        held = sum(open_fds(sp.pid) - b for sp, b in zip(procs, base))
        rss_open = [rss_kib(sp.pid) for sp in procs]
        go.set()
        echoed, first_error = 0, None
        for _ in workers:
            msg = q.get(timeout=args.timeout * 10)
            if msg[1] == "echoed":
                echoed += msg[2]
                first_error = first_error or msg[3]
            else:
                first_error = first_error or msg[2]
        after = [rss_kib(sp.pid) for sp in procs]
        done.set()
        for w in workers:
            w.join(args.timeout)

        grown = sum(a - b for a, b in zip(rss_open, before)) * 1024
        print(f"held:      {held} connections at once in {servers} echokit serve process(es)")
        print(f"accepted:  {n} in {accepted_at:.2f} s ({n / accepted_at:,.0f} connections/s, "
              f"{clients} client process(es) connecting)")
        print(f"RSS:       {sum(before)} KiB before, {sum(rss_open)} KiB with every connection "
              f"open: {grown / n:.0f} bytes per connection; {sum(after)} KiB after the echoes")
        print(f"echoed:    {echoed} of {n} connections, 64 bytes each, after all were open"
              + (f"; first error: {first_error}" if first_error else ""))
        return 0 if echoed == n else 1
    finally:
        for sp in procs:
            if sp.poll() is None:
                sp.send_signal(signal.SIGTERM)
        for sp in procs:
            try:
                sp.wait(10)
            except subprocess.TimeoutExpired:
                sp.kill()


if __name__ == "__main__":
    sys.exit(main())
