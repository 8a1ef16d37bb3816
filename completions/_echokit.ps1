
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'echokit' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'echokit'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'echokit' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve echo on one or more addresses (RFC 862)')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Send a message to an echo server and verify the echo')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Round-trip payloads through every transport and report PASS/FAIL/SKIP')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Measure echo latency and throughput against an echo server')
            [CompletionResult]::new('resolve', 'resolve', [CompletionResultType]::ParameterValue, 'Show what getaddrinfo answers for a name')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write the man pages, or print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'echokit;serve' {
            [CompletionResult]::new('--backlog', '--backlog', [CompletionResultType]::ParameterName, 'Length of the queue of connections waiting to be accepted')
            [CompletionResult]::new('--max-conns', '--max-conns', [CompletionResultType]::ParameterName, 'Accept at most N connections at once; extra ones are closed at once and counted')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Close a connection after this long without a byte in either direction (e.g. 30s; at most 100y)')
            [CompletionResult]::new('--drain', '--drain', [CompletionResultType]::ParameterName, 'After SIGINT/SIGTERM, how long open connections may take to finish (at most 100y)')
            [CompletionResult]::new('--udp-rate', '--udp-rate', [CompletionResultType]::ParameterName, 'Answer at most N datagrams per second from one source address (extra ones are dropped and counted)')
            [CompletionResult]::new('--buffer-size', '--buffer-size', [CompletionResultType]::ParameterName, 'Read at most this many bytes at a time (e.g. 8, 4KiB, 64KiB; at most 16MiB); also the largest datagram echoed')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Exit once N connections or datagrams have been echoed in full')
            [CompletionResult]::new('--mode', '--mode', [CompletionResultType]::ParameterName, 'Permissions of created Unix socket files, octal as for chmod (600, 0660); an abstract name (@name) has no file, so it gets none: any local user in its network namespace can connect (a warning says so)')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Number of event loops (threads) sharing the listeners (default: the CPUs this process may run on, as its affinity says)')
            [CompletionResult]::new('--metrics', '--metrics', [CompletionResultType]::ParameterName, 'Serve GET /metrics in the Prometheus text format on this TCP address (e.g. 127.0.0.1:9862; port 0 works, the address is logged): counters per listener')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'Resolve names to IPv4 addresses only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'Resolve names to IPv6 addresses only')
            [CompletionResult]::new('--inetd', '--inetd', [CompletionResultType]::ParameterName, 'Serve the socket on stdin, as inetd passes it: a connected stream (echo it, then exit) or a datagram socket; prints nothing on stdout')
            [CompletionResult]::new('--v6only', '--v6only', [CompletionResultType]::ParameterName, 'Make IPv6 listeners IPv6-only (IPV6_V6ONLY on; default: off for [::], so IPv4 clients arrive as ::ffff:a.b.c.d)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON lines on stdout instead of human-readable text')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Say nothing but errors (not with --json: SPEC §6)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Say nothing but errors (not with --json: SPEC §6)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'echokit;send' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Send the contents of this file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Send the contents of this file')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Give up if the whole exchange takes longer than this (e.g. 5s; at most 100y)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up if the whole exchange takes longer than this (e.g. 5s; at most 100y)')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up on a connection attempt after this long (default: --timeout, else 10s; at most 100y); a full Unix listen queue is retried until then')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'End the exchange (exit 4) when no byte moved either way for this long (at most 100y); 0 waits for ever')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Datagrams: send again this many times when no reply comes (waits 1s, 2s, 4s... between)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Repeat the exchange N times and print round-trip times, like ping')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Repeat the exchange N times and print round-trip times, like ping')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Wait this long between repeated exchanges (default 1s, at most 100y; alone, repeats until interrupted)')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Wait this long between repeated exchanges (default 1s, at most 100y; alone, repeats until interrupted)')
            [CompletionResult]::new('--buffer-size', '--buffer-size', [CompletionResultType]::ParameterName, 'Read at most this many bytes at a time (at most 16MiB; with -v, each received chunk is shown)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Do not append a newline to MESSAGE')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'Resolve names to IPv4 addresses only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'Resolve names to IPv6 addresses only')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON lines on stdout instead of human-readable text')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Say nothing but errors (not with --json: SPEC §6)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Say nothing but errors (not with --json: SPEC §6)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'echokit;check' {
            [CompletionResult]::new('--require', '--require', [CompletionResultType]::ParameterName, 'Turn SKIP into FAIL for these (comma-separated): abstract, ipv4, ipv6, localhost, mptcp, mptcp4, mptcp6, seqpacket, tcp, tcp4, tcp6, udp, udp4, udp6, unix (Unix path sockets), unixgram')
            [CompletionResult]::new('--unix-dir', '--unix-dir', [CompletionResultType]::ParameterName, 'Create the Unix path sockets in DIR instead of a temporary directory; a missing or unwritable DIR, or one too long for sun_path, is FAIL')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Give up on one transport (all its payloads) after this long (at most 100y)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on one transport (all its payloads) after this long (at most 100y)')
            [CompletionResult]::new('--buffer-size', '--buffer-size', [CompletionResultType]::ParameterName, 'Read size of the in-process servers and the clients (at most 16MiB); stream payloads include exact multiples of it')
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Also write the rows as a JUnit XML report to FILE (GitLab, Jenkins, test-report actions)')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Also write the rows for node_exporter''s textfile collector to FILE (name it *.prom): probe_success and probe_duration_seconds per row, replaced atomically')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'Resolve names to IPv4 addresses only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'Resolve names to IPv6 addresses only')
            [CompletionResult]::new('--github', '--github', [CompletionResultType]::ParameterName, 'GitHub Actions: ::error/::warning lines after the table, a summary table in $GITHUB_STEP_SUMMARY, TRANSPORT=pass|fail|skip lines in $GITHUB_OUTPUT')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON lines on stdout instead of human-readable text')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Say nothing but errors (not with --json: SPEC §6)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Say nothing but errors (not with --json: SPEC §6)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'echokit;bench' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Number of concurrent connections (or datagram sockets with -u) [default: 50, or 1 with --bulk]')
            [CompletionResult]::new('--connections', '--connections', [CompletionResultType]::ParameterName, 'Number of concurrent connections (or datagram sockets with -u) [default: 50, or 1 with --bulk]')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'How long to run (e.g. 3s, 1m; at most 100y)')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'How long to run (e.g. 3s, 1m; at most 100y)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Bytes per request (e.g. 64, 1KiB, 1MiB; at most 16MiB); with --bulk, bytes per write [default: 64, or 64KiB with --bulk]')
            [CompletionResult]::new('--size', '--size', [CompletionResultType]::ParameterName, 'Bytes per request (e.g. 64, 1KiB, 1MiB; at most 16MiB); with --bulk, bytes per write [default: 64, or 64KiB with --bulk]')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Spread the connections over this many client threads, each with its own event loop')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Open loop: this many requests per second in total, on a fixed schedule')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Open loop: this many requests per second in total, on a fixed schedule')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Give up on a request (counted as an error) after this long (at most 100y)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request (counted as an error) after this long (at most 100y)')
            [CompletionResult]::new('--requests', '--requests', [CompletionResultType]::ParameterName, 'Stop after this many requests in total (default: only --duration stops)')
            [CompletionResult]::new('--buffer-size', '--buffer-size', [CompletionResultType]::ParameterName, 'Read at most this many bytes at a time (at most 16MiB)')
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Run share I of N of the load, for N machines (each shard takes 1/N of --connections and of --rate); merge their --json reports with `echokit bench merge`')
            [CompletionResult]::new('--start-at', '--start-at', [CompletionResultType]::ParameterName, 'Start the load at this time, in Unix seconds (e.g. $(( $(date +%s) + 30 ))), so every shard starts together; at most a day ahead')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'Resolve names to IPv4 addresses only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'Resolve names to IPv6 addresses only')
            [CompletionResult]::new('--churn', '--churn', [CompletionResultType]::ParameterName, 'Churn: every request on a new connection (connect, send, read the echo, close); reports connections per second')
            [CompletionResult]::new('--bulk', '--bulk', [CompletionResultType]::ParameterName, 'Bulk: each connection writes without waiting and reads the echo back as it comes; reports bytes per second')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON lines on stdout instead of human-readable text')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Say nothing but errors (not with --json: SPEC §6)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Say nothing but errors (not with --json: SPEC §6)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('merge', 'merge', [CompletionResultType]::ParameterValue, 'Merge `bench --json` reports (shards of one load) into one report')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'echokit;bench;merge' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON lines on stdout instead of human-readable text')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Say nothing but errors (not with --json: SPEC §6)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Say nothing but errors (not with --json: SPEC §6)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'echokit;bench;help' {
            [CompletionResult]::new('merge', 'merge', [CompletionResultType]::ParameterValue, 'Merge `bench --json` reports (shards of one load) into one report')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'echokit;bench;help;merge' {
            break
        }
        'echokit;bench;help;help' {
            break
        }
        'echokit;resolve' {
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'IPv4 results only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'IPv6 results only')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Datagram (UDP) results only')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'Datagram (UDP) results only')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'Stream (TCP) results only')
            [CompletionResult]::new('--canonname', '--canonname', [CompletionResultType]::ParameterName, 'Ask for the canonical name (AI_CANONNAME)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON lines on stdout instead of human-readable text')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Say nothing but errors (not with --json: SPEC §6)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Say nothing but errors (not with --json: SPEC §6)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'echokit;generate' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write echokit.1 and one page per subcommand into DIR')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the completion script for SHELL on stdout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'echokit;generate;man' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'echokit;generate;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'echokit;generate;help' {
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write echokit.1 and one page per subcommand into DIR')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the completion script for SHELL on stdout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'echokit;generate;help;man' {
            break
        }
        'echokit;generate;help;completions' {
            break
        }
        'echokit;generate;help;help' {
            break
        }
        'echokit;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve echo on one or more addresses (RFC 862)')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Send a message to an echo server and verify the echo')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Round-trip payloads through every transport and report PASS/FAIL/SKIP')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Measure echo latency and throughput against an echo server')
            [CompletionResult]::new('resolve', 'resolve', [CompletionResultType]::ParameterValue, 'Show what getaddrinfo answers for a name')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write the man pages, or print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'echokit;help;serve' {
            break
        }
        'echokit;help;send' {
            break
        }
        'echokit;help;check' {
            break
        }
        'echokit;help;bench' {
            [CompletionResult]::new('merge', 'merge', [CompletionResultType]::ParameterValue, 'Merge `bench --json` reports (shards of one load) into one report')
            break
        }
        'echokit;help;bench;merge' {
            break
        }
        'echokit;help;resolve' {
            break
        }
        'echokit;help;generate' {
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write echokit.1 and one page per subcommand into DIR')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the completion script for SHELL on stdout')
            break
        }
        'echokit;help;generate;man' {
            break
        }
        'echokit;help;generate;completions' {
            break
        }
        'echokit;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
