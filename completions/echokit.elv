
use builtin;
use str;

set edit:completion:arg-completer[echokit] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'echokit'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'echokit'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Serve echo on one or more addresses (RFC 862)'
            cand send 'Send a message to an echo server and verify the echo'
            cand check 'Round-trip payloads through every transport and report PASS/FAIL/SKIP'
            cand bench 'Measure echo latency and throughput against an echo server'
            cand resolve 'Show what getaddrinfo answers for a name'
            cand generate 'Write the man pages, or print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'echokit;serve'= {
            cand --backlog 'Length of the queue of connections waiting to be accepted'
            cand --max-conns 'Accept at most N connections at once; extra ones are closed at once and counted'
            cand --idle-timeout 'Close a connection after this long without a byte in either direction (e.g. 30s; at most 100y)'
            cand --drain 'After SIGINT/SIGTERM, how long open connections may take to finish (at most 100y)'
            cand --udp-rate 'Answer at most N datagrams per second from one source address (extra ones are dropped and counted)'
            cand --buffer-size 'Read at most this many bytes at a time (e.g. 8, 4KiB, 64KiB; at most 16MiB); also the largest datagram echoed'
            cand --count 'Exit once N connections or datagrams have been echoed in full'
            cand --mode 'Permissions of created Unix socket files, octal as for chmod (600, 0660); an abstract name (@name) has no file, so it gets none: any local user in its network namespace can connect (a warning says so)'
            cand --workers 'Number of event loops (threads) sharing the listeners (default: the CPUs this process may run on, as its affinity says)'
            cand --metrics 'Serve GET /metrics in the Prometheus text format on this TCP address (e.g. 127.0.0.1:9862; port 0 works, the address is logged): counters per listener'
            cand -u 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix'
            cand --udp 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix'
            cand -4 'Resolve names to IPv4 addresses only'
            cand -6 'Resolve names to IPv6 addresses only'
            cand --inetd 'Serve the socket on stdin, as inetd passes it: a connected stream (echo it, then exit) or a datagram socket; prints nothing on stdout'
            cand --v6only 'Make IPv6 listeners IPv6-only (IPV6_V6ONLY on; default: off for [::], so IPv4 clients arrive as ::ffff:a.b.c.d)'
            cand --json 'Print JSON lines on stdout instead of human-readable text'
            cand -v 'Say more on stderr (repeat for more)'
            cand --verbose 'Say more on stderr (repeat for more)'
            cand -q 'Say nothing but errors (not with --json: SPEC §6)'
            cand --quiet 'Say nothing but errors (not with --json: SPEC §6)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'echokit;send'= {
            cand -f 'Send the contents of this file'
            cand --file 'Send the contents of this file'
            cand -t 'Give up if the whole exchange takes longer than this (e.g. 5s; at most 100y)'
            cand --timeout 'Give up if the whole exchange takes longer than this (e.g. 5s; at most 100y)'
            cand --connect-timeout 'Give up on a connection attempt after this long (default: --timeout, else 10s; at most 100y); a full Unix listen queue is retried until then'
            cand --idle-timeout 'End the exchange (exit 4) when no byte moved either way for this long (at most 100y); 0 waits for ever'
            cand --retries 'Datagrams: send again this many times when no reply comes (waits 1s, 2s, 4s... between)'
            cand -c 'Repeat the exchange N times and print round-trip times, like ping'
            cand --count 'Repeat the exchange N times and print round-trip times, like ping'
            cand -i 'Wait this long between repeated exchanges (default 1s, at most 100y; alone, repeats until interrupted)'
            cand --interval 'Wait this long between repeated exchanges (default 1s, at most 100y; alone, repeats until interrupted)'
            cand --buffer-size 'Read at most this many bytes at a time (at most 16MiB; with -v, each received chunk is shown)'
            cand -n 'Do not append a newline to MESSAGE'
            cand -u 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix'
            cand --udp 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix'
            cand -4 'Resolve names to IPv4 addresses only'
            cand -6 'Resolve names to IPv6 addresses only'
            cand --json 'Print JSON lines on stdout instead of human-readable text'
            cand -v 'Say more on stderr (repeat for more)'
            cand --verbose 'Say more on stderr (repeat for more)'
            cand -q 'Say nothing but errors (not with --json: SPEC §6)'
            cand --quiet 'Say nothing but errors (not with --json: SPEC §6)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'echokit;check'= {
            cand --require 'Turn SKIP into FAIL for these (comma-separated): abstract, ipv4, ipv6, localhost, mptcp, mptcp4, mptcp6, seqpacket, tcp, tcp4, tcp6, udp, udp4, udp6, unix (Unix path sockets), unixgram'
            cand --unix-dir 'Create the Unix path sockets in DIR instead of a temporary directory; a missing or unwritable DIR, or one too long for sun_path, is FAIL'
            cand -t 'Give up on one transport (all its payloads) after this long (at most 100y)'
            cand --timeout 'Give up on one transport (all its payloads) after this long (at most 100y)'
            cand --buffer-size 'Read size of the in-process servers and the clients (at most 16MiB); stream payloads include exact multiples of it'
            cand --junit 'Also write the rows as a JUnit XML report to FILE (GitLab, Jenkins, test-report actions)'
            cand --metrics-file 'Also write the rows for node_exporter''s textfile collector to FILE (name it *.prom): probe_success and probe_duration_seconds per row, replaced atomically'
            cand -u 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix'
            cand --udp 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix'
            cand -4 'Resolve names to IPv4 addresses only'
            cand -6 'Resolve names to IPv6 addresses only'
            cand --github 'GitHub Actions: ::error/::warning lines after the table, a summary table in $GITHUB_STEP_SUMMARY, TRANSPORT=pass|fail|skip lines in $GITHUB_OUTPUT'
            cand --json 'Print JSON lines on stdout instead of human-readable text'
            cand -v 'Say more on stderr (repeat for more)'
            cand --verbose 'Say more on stderr (repeat for more)'
            cand -q 'Say nothing but errors (not with --json: SPEC §6)'
            cand --quiet 'Say nothing but errors (not with --json: SPEC §6)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'echokit;bench'= {
            cand -c 'Number of concurrent connections (or datagram sockets with -u) [default: 50, or 1 with --bulk]'
            cand --connections 'Number of concurrent connections (or datagram sockets with -u) [default: 50, or 1 with --bulk]'
            cand -d 'How long to run (e.g. 3s, 1m; at most 100y)'
            cand --duration 'How long to run (e.g. 3s, 1m; at most 100y)'
            cand -s 'Bytes per request (e.g. 64, 1KiB, 1MiB; at most 16MiB); with --bulk, bytes per write [default: 64, or 64KiB with --bulk]'
            cand --size 'Bytes per request (e.g. 64, 1KiB, 1MiB; at most 16MiB); with --bulk, bytes per write [default: 64, or 64KiB with --bulk]'
            cand --threads 'Spread the connections over this many client threads, each with its own event loop'
            cand -r 'Open loop: this many requests per second in total, on a fixed schedule'
            cand --rate 'Open loop: this many requests per second in total, on a fixed schedule'
            cand -t 'Give up on a request (counted as an error) after this long (at most 100y)'
            cand --timeout 'Give up on a request (counted as an error) after this long (at most 100y)'
            cand --requests 'Stop after this many requests in total (default: only --duration stops)'
            cand --buffer-size 'Read at most this many bytes at a time (at most 16MiB)'
            cand --shard 'Run share I of N of the load, for N machines (each shard takes 1/N of --connections and of --rate); merge their --json reports with `echokit bench merge`'
            cand --start-at 'Start the load at this time, in Unix seconds (e.g. $(( $(date +%s) + 30 ))), so every shard starts together; at most a day ahead'
            cand -u 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix'
            cand --udp 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix'
            cand -4 'Resolve names to IPv4 addresses only'
            cand -6 'Resolve names to IPv6 addresses only'
            cand --churn 'Churn: every request on a new connection (connect, send, read the echo, close); reports connections per second'
            cand --bulk 'Bulk: each connection writes without waiting and reads the echo back as it comes; reports bytes per second'
            cand --json 'Print JSON lines on stdout instead of human-readable text'
            cand -v 'Say more on stderr (repeat for more)'
            cand --verbose 'Say more on stderr (repeat for more)'
            cand -q 'Say nothing but errors (not with --json: SPEC §6)'
            cand --quiet 'Say nothing but errors (not with --json: SPEC §6)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand merge 'Merge `bench --json` reports (shards of one load) into one report'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'echokit;bench;merge'= {
            cand --json 'Print JSON lines on stdout instead of human-readable text'
            cand -v 'Say more on stderr (repeat for more)'
            cand --verbose 'Say more on stderr (repeat for more)'
            cand -q 'Say nothing but errors (not with --json: SPEC §6)'
            cand --quiet 'Say nothing but errors (not with --json: SPEC §6)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'echokit;bench;help'= {
            cand merge 'Merge `bench --json` reports (shards of one load) into one report'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'echokit;bench;help;merge'= {
        }
        &'echokit;bench;help;help'= {
        }
        &'echokit;resolve'= {
            cand -4 'IPv4 results only'
            cand -6 'IPv6 results only'
            cand -u 'Datagram (UDP) results only'
            cand --udp 'Datagram (UDP) results only'
            cand --tcp 'Stream (TCP) results only'
            cand --canonname 'Ask for the canonical name (AI_CANONNAME)'
            cand --json 'Print JSON lines on stdout instead of human-readable text'
            cand -v 'Say more on stderr (repeat for more)'
            cand --verbose 'Say more on stderr (repeat for more)'
            cand -q 'Say nothing but errors (not with --json: SPEC §6)'
            cand --quiet 'Say nothing but errors (not with --json: SPEC §6)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'echokit;generate'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand man 'Write echokit.1 and one page per subcommand into DIR'
            cand completions 'Print the completion script for SHELL on stdout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'echokit;generate;man'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'echokit;generate;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'echokit;generate;help'= {
            cand man 'Write echokit.1 and one page per subcommand into DIR'
            cand completions 'Print the completion script for SHELL on stdout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'echokit;generate;help;man'= {
        }
        &'echokit;generate;help;completions'= {
        }
        &'echokit;generate;help;help'= {
        }
        &'echokit;help'= {
            cand serve 'Serve echo on one or more addresses (RFC 862)'
            cand send 'Send a message to an echo server and verify the echo'
            cand check 'Round-trip payloads through every transport and report PASS/FAIL/SKIP'
            cand bench 'Measure echo latency and throughput against an echo server'
            cand resolve 'Show what getaddrinfo answers for a name'
            cand generate 'Write the man pages, or print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'echokit;help;serve'= {
        }
        &'echokit;help;send'= {
        }
        &'echokit;help;check'= {
        }
        &'echokit;help;bench'= {
            cand merge 'Merge `bench --json` reports (shards of one load) into one report'
        }
        &'echokit;help;bench;merge'= {
        }
        &'echokit;help;resolve'= {
        }
        &'echokit;help;generate'= {
            cand man 'Write echokit.1 and one page per subcommand into DIR'
            cand completions 'Print the completion script for SHELL on stdout'
        }
        &'echokit;help;generate;man'= {
        }
        &'echokit;help;generate;completions'= {
        }
        &'echokit;help;help'= {
        }
    ]
    $completions[$command]
}
