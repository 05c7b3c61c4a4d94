#!/usr/bin/env bash
# Regenerates src/layout/{default,device}.order: the functions the release
# binary runs, in the order the linker should place them (src/build.rs).
#   1. start-up and an idle second (what an idle server keeps resident),
#   2. then the common working set (benches/layout/workload.py: /broadcast and
#      /ws upgrades, frames, join/publish/subscribe, closes, shutdown).
# Needs valgrind (callgrind) and python3. Run from anywhere; takes ~8 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=benches/layout
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
for build in default device; do
    flags=()
    [ "$build" = device ] && flags=(--no-default-features)
    # The release build as shipped, plus its link map (src/build.rs).
    map=$PWD/target/layout-$build/loopcast.map
    LOOPCAST_LINK_MAP=$map cargo build --release --quiet "${flags[@]}" --target-dir "target/layout-$build"
    bin=target/layout-$build/release/loopcast
    port=$(free_port)
    valgrind --tool=callgrind --callgrind-out-file="$out/$build.%p" --dump-instr=no \
        --compress-strings=no --compress-pos=no --demangle=no \
        "$bin" --listen "127.0.0.1:$port" --log-level warn 2>"$out/$build.log" &
    vg=$!
    for _ in $(seq 100); do
        # Listening yet? (asked of the kernel: a test connection would run accept code)
        ss -Hltn "sport = :$port" | grep -q . && break
        sleep 0.2
    done
    sleep 2 # timers of an idle server
    callgrind_control -d "$vg" >/dev/null  # phase 1 ends here
    python3 "$here/workload.py" "$port" 1 >/dev/null
    kill -TERM "$vg"
    wait "$vg" || true
    # callgrind writes phase dumps as NAME.PID.1 and the rest as NAME.PID.
    python3 "$here/names.py" "$map" "$out/$build".*.1 $(ls "$out/$build".* | grep -v '\.1$\|\.log$') \
        >"src/layout/$build.order"
    echo "src/layout/$build.order: $(wc -l <"src/layout/$build.order") functions"
done
