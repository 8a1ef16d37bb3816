# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_echokit_global_optspecs
    string join \n h/help V/version
end

function __fish_echokit_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_echokit_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_echokit_using_subcommand
    set -l cmd (__fish_echokit_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c echokit -n "__fish_echokit_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c echokit -n "__fish_echokit_needs_command" -s V -l version -d 'Print version'
complete -c echokit -n "__fish_echokit_needs_command" -f -a "serve" -d 'Serve echo on one or more addresses (RFC 862)'
complete -c echokit -n "__fish_echokit_needs_command" -f -a "send" -d 'Send a message to an echo server and verify the echo'
complete -c echokit -n "__fish_echokit_needs_command" -f -a "check" -d 'Round-trip payloads through every transport and report PASS/FAIL/SKIP'
complete -c echokit -n "__fish_echokit_needs_command" -f -a "bench" -d 'Measure echo latency and throughput against an echo server'
complete -c echokit -n "__fish_echokit_needs_command" -f -a "resolve" -d 'Show what getaddrinfo answers for a name'
complete -c echokit -n "__fish_echokit_needs_command" -f -a "generate" -d 'Write the man pages, or print a shell completion script'
complete -c echokit -n "__fish_echokit_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l backlog -d 'Length of the queue of connections waiting to be accepted' -r
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l max-conns -d 'Accept at most N connections at once; extra ones are closed at once and counted' -r
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l idle-timeout -d 'Close a connection after this long without a byte in either direction (e.g. 30s; at most 100y)' -r
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l drain -d 'After SIGINT/SIGTERM, how long open connections may take to finish (at most 100y)' -r
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l udp-rate -d 'Answer at most N datagrams per second from one source address (extra ones are dropped and counted)' -r
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l buffer-size -d 'Read at most this many bytes at a time (e.g. 8, 4KiB, 64KiB; at most 16MiB); also the largest datagram echoed' -r
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l count -d 'Exit once N connections or datagrams have been echoed in full' -r
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l mode -d 'Permissions of created Unix socket files, octal as for chmod (600, 0660); an abstract name (@name) has no file, so it gets none: any local user in its network namespace can connect (a warning says so)' -r -f
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l workers -d 'Number of event loops (threads) sharing the listeners (default: the CPUs this process may run on, as its affinity says)' -r
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l metrics -d 'Serve GET /metrics in the Prometheus text format on this TCP address (e.g. 127.0.0.1:9862; port 0 works, the address is logged): counters per listener' -r -f
complete -c echokit -n "__fish_echokit_using_subcommand serve" -s u -l udp -d 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix'
complete -c echokit -n "__fish_echokit_using_subcommand serve" -s 4 -d 'Resolve names to IPv4 addresses only'
complete -c echokit -n "__fish_echokit_using_subcommand serve" -s 6 -d 'Resolve names to IPv6 addresses only'
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l inetd -d 'Serve the socket on stdin, as inetd passes it: a connected stream (echo it, then exit) or a datagram socket; prints nothing on stdout'
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l v6only -d 'Make IPv6 listeners IPv6-only (IPV6_V6ONLY on; default: off for [::], so IPv4 clients arrive as ::ffff:a.b.c.d)'
complete -c echokit -n "__fish_echokit_using_subcommand serve" -l json -d 'Print JSON lines on stdout instead of human-readable text'
complete -c echokit -n "__fish_echokit_using_subcommand serve" -s v -l verbose -d 'Say more on stderr (repeat for more)'
complete -c echokit -n "__fish_echokit_using_subcommand serve" -s q -l quiet -d 'Say nothing but errors (not with --json: SPEC §6)'
complete -c echokit -n "__fish_echokit_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c echokit -n "__fish_echokit_using_subcommand send" -s f -l file -d 'Send the contents of this file' -r -F
complete -c echokit -n "__fish_echokit_using_subcommand send" -s t -l timeout -d 'Give up if the whole exchange takes longer than this (e.g. 5s; at most 100y)' -r
complete -c echokit -n "__fish_echokit_using_subcommand send" -l connect-timeout -d 'Give up on a connection attempt after this long (default: --timeout, else 10s; at most 100y); a full Unix listen queue is retried until then' -r
complete -c echokit -n "__fish_echokit_using_subcommand send" -l idle-timeout -d 'End the exchange (exit 4) when no byte moved either way for this long (at most 100y); 0 waits for ever' -r
complete -c echokit -n "__fish_echokit_using_subcommand send" -l retries -d 'Datagrams: send again this many times when no reply comes (waits 1s, 2s, 4s... between)' -r
complete -c echokit -n "__fish_echokit_using_subcommand send" -s c -l count -d 'Repeat the exchange N times and print round-trip times, like ping' -r
complete -c echokit -n "__fish_echokit_using_subcommand send" -s i -l interval -d 'Wait this long between repeated exchanges (default 1s, at most 100y; alone, repeats until interrupted)' -r
complete -c echokit -n "__fish_echokit_using_subcommand send" -l buffer-size -d 'Read at most this many bytes at a time (at most 16MiB; with -v, each received chunk is shown)' -r
complete -c echokit -n "__fish_echokit_using_subcommand send" -s n -d 'Do not append a newline to MESSAGE'
complete -c echokit -n "__fish_echokit_using_subcommand send" -s u -l udp -d 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix'
complete -c echokit -n "__fish_echokit_using_subcommand send" -s 4 -d 'Resolve names to IPv4 addresses only'
complete -c echokit -n "__fish_echokit_using_subcommand send" -s 6 -d 'Resolve names to IPv6 addresses only'
complete -c echokit -n "__fish_echokit_using_subcommand send" -l json -d 'Print JSON lines on stdout instead of human-readable text'
complete -c echokit -n "__fish_echokit_using_subcommand send" -s v -l verbose -d 'Say more on stderr (repeat for more)'
complete -c echokit -n "__fish_echokit_using_subcommand send" -s q -l quiet -d 'Say nothing but errors (not with --json: SPEC §6)'
complete -c echokit -n "__fish_echokit_using_subcommand send" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c echokit -n "__fish_echokit_using_subcommand check" -l require -d 'Turn SKIP into FAIL for these (comma-separated): abstract, ipv4, ipv6, localhost, mptcp, mptcp4, mptcp6, seqpacket, tcp, tcp4, tcp6, udp, udp4, udp6, unix (Unix path sockets), unixgram' -r -f -a "abstract\t''
ipv4\t''
ipv6\t''
localhost\t''
mptcp\t''
mptcp4\t''
mptcp6\t''
seqpacket\t''
tcp\t''
tcp4\t''
tcp6\t''
udp\t''
udp4\t''
udp6\t''
unix\t''
unixgram\t''"
complete -c echokit -n "__fish_echokit_using_subcommand check" -l unix-dir -d 'Create the Unix path sockets in DIR instead of a temporary directory; a missing or unwritable DIR, or one too long for sun_path, is FAIL' -r -F
complete -c echokit -n "__fish_echokit_using_subcommand check" -s t -l timeout -d 'Give up on one transport (all its payloads) after this long (at most 100y)' -r
complete -c echokit -n "__fish_echokit_using_subcommand check" -l buffer-size -d 'Read size of the in-process servers and the clients (at most 16MiB); stream payloads include exact multiples of it' -r
complete -c echokit -n "__fish_echokit_using_subcommand check" -l junit -d 'Also write the rows as a JUnit XML report to FILE (GitLab, Jenkins, test-report actions)' -r -F
complete -c echokit -n "__fish_echokit_using_subcommand check" -l metrics-file -d 'Also write the rows for node_exporter\'s textfile collector to FILE (name it *.prom): probe_success and probe_duration_seconds per row, replaced atomically' -r -F
complete -c echokit -n "__fish_echokit_using_subcommand check" -s u -l udp -d 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix'
complete -c echokit -n "__fish_echokit_using_subcommand check" -s 4 -d 'Resolve names to IPv4 addresses only'
complete -c echokit -n "__fish_echokit_using_subcommand check" -s 6 -d 'Resolve names to IPv6 addresses only'
complete -c echokit -n "__fish_echokit_using_subcommand check" -l github -d 'GitHub Actions: ::error/::warning lines after the table, a summary table in $GITHUB_STEP_SUMMARY, TRANSPORT=pass|fail|skip lines in $GITHUB_OUTPUT'
complete -c echokit -n "__fish_echokit_using_subcommand check" -l json -d 'Print JSON lines on stdout instead of human-readable text'
complete -c echokit -n "__fish_echokit_using_subcommand check" -s v -l verbose -d 'Say more on stderr (repeat for more)'
complete -c echokit -n "__fish_echokit_using_subcommand check" -s q -l quiet -d 'Say nothing but errors (not with --json: SPEC §6)'
complete -c echokit -n "__fish_echokit_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -s c -l connections -d 'Number of concurrent connections (or datagram sockets with -u) [default: 50, or 1 with --bulk]' -r
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -s d -l duration -d 'How long to run (e.g. 3s, 1m; at most 100y)' -r
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -s s -l size -d 'Bytes per request (e.g. 64, 1KiB, 1MiB; at most 16MiB); with --bulk, bytes per write [default: 64, or 64KiB with --bulk]' -r
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -l threads -d 'Spread the connections over this many client threads, each with its own event loop' -r
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -s r -l rate -d 'Open loop: this many requests per second in total, on a fixed schedule' -r
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -s t -l timeout -d 'Give up on a request (counted as an error) after this long (at most 100y)' -r
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -l requests -d 'Stop after this many requests in total (default: only --duration stops)' -r
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -l buffer-size -d 'Read at most this many bytes at a time (at most 16MiB)' -r
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -l shard -d 'Run share I of N of the load, for N machines (each shard takes 1/N of --connections and of --rate); merge their --json reports with `echokit bench merge`' -r
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -l start-at -d 'Start the load at this time, in Unix seconds (e.g. $(( $(date +%s) + 30 ))), so every shard starts together; at most a day ahead' -r
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -s u -l udp -d 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -s 4 -d 'Resolve names to IPv4 addresses only'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -s 6 -d 'Resolve names to IPv6 addresses only'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -l churn -d 'Churn: every request on a new connection (connect, send, read the echo, close); reports connections per second'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -l bulk -d 'Bulk: each connection writes without waiting and reads the echo back as it comes; reports bytes per second'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -l json -d 'Print JSON lines on stdout instead of human-readable text'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -s v -l verbose -d 'Say more on stderr (repeat for more)'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -s q -l quiet -d 'Say nothing but errors (not with --json: SPEC §6)'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -a "merge" -d 'Merge `bench --json` reports (shards of one load) into one report'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and not __fish_seen_subcommand_from merge help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and __fish_seen_subcommand_from merge" -l json -d 'Print JSON lines on stdout instead of human-readable text'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and __fish_seen_subcommand_from merge" -s v -l verbose -d 'Say more on stderr (repeat for more)'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and __fish_seen_subcommand_from merge" -s q -l quiet -d 'Say nothing but errors (not with --json: SPEC §6)'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and __fish_seen_subcommand_from merge" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "merge" -d 'Merge `bench --json` reports (shards of one load) into one report'
complete -c echokit -n "__fish_echokit_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c echokit -n "__fish_echokit_using_subcommand resolve" -s 4 -d 'IPv4 results only'
complete -c echokit -n "__fish_echokit_using_subcommand resolve" -s 6 -d 'IPv6 results only'
complete -c echokit -n "__fish_echokit_using_subcommand resolve" -s u -l udp -d 'Datagram (UDP) results only'
complete -c echokit -n "__fish_echokit_using_subcommand resolve" -l tcp -d 'Stream (TCP) results only'
complete -c echokit -n "__fish_echokit_using_subcommand resolve" -l canonname -d 'Ask for the canonical name (AI_CANONNAME)'
complete -c echokit -n "__fish_echokit_using_subcommand resolve" -l json -d 'Print JSON lines on stdout instead of human-readable text'
complete -c echokit -n "__fish_echokit_using_subcommand resolve" -s v -l verbose -d 'Say more on stderr (repeat for more)'
complete -c echokit -n "__fish_echokit_using_subcommand resolve" -s q -l quiet -d 'Say nothing but errors (not with --json: SPEC §6)'
complete -c echokit -n "__fish_echokit_using_subcommand resolve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c echokit -n "__fish_echokit_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c echokit -n "__fish_echokit_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -f -a "man" -d 'Write echokit.1 and one page per subcommand into DIR'
complete -c echokit -n "__fish_echokit_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -f -a "completions" -d 'Print the completion script for SHELL on stdout'
complete -c echokit -n "__fish_echokit_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c echokit -n "__fish_echokit_using_subcommand generate; and __fish_seen_subcommand_from man" -s h -l help -d 'Print help'
complete -c echokit -n "__fish_echokit_using_subcommand generate; and __fish_seen_subcommand_from completions" -s h -l help -d 'Print help'
complete -c echokit -n "__fish_echokit_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "man" -d 'Write echokit.1 and one page per subcommand into DIR'
complete -c echokit -n "__fish_echokit_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "completions" -d 'Print the completion script for SHELL on stdout'
complete -c echokit -n "__fish_echokit_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c echokit -n "__fish_echokit_using_subcommand help; and not __fish_seen_subcommand_from serve send check bench resolve generate help" -f -a "serve" -d 'Serve echo on one or more addresses (RFC 862)'
complete -c echokit -n "__fish_echokit_using_subcommand help; and not __fish_seen_subcommand_from serve send check bench resolve generate help" -f -a "send" -d 'Send a message to an echo server and verify the echo'
complete -c echokit -n "__fish_echokit_using_subcommand help; and not __fish_seen_subcommand_from serve send check bench resolve generate help" -f -a "check" -d 'Round-trip payloads through every transport and report PASS/FAIL/SKIP'
complete -c echokit -n "__fish_echokit_using_subcommand help; and not __fish_seen_subcommand_from serve send check bench resolve generate help" -f -a "bench" -d 'Measure echo latency and throughput against an echo server'
complete -c echokit -n "__fish_echokit_using_subcommand help; and not __fish_seen_subcommand_from serve send check bench resolve generate help" -f -a "resolve" -d 'Show what getaddrinfo answers for a name'
complete -c echokit -n "__fish_echokit_using_subcommand help; and not __fish_seen_subcommand_from serve send check bench resolve generate help" -f -a "generate" -d 'Write the man pages, or print a shell completion script'
complete -c echokit -n "__fish_echokit_using_subcommand help; and not __fish_seen_subcommand_from serve send check bench resolve generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c echokit -n "__fish_echokit_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "merge" -d 'Merge `bench --json` reports (shards of one load) into one report'
complete -c echokit -n "__fish_echokit_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "man" -d 'Write echokit.1 and one page per subcommand into DIR'
complete -c echokit -n "__fish_echokit_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "completions" -d 'Print the completion script for SHELL on stdout'
