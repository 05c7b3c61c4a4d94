#!/usr/bin/env bash
# Regenerates src/layout/{default,device}.order: the functions the release
# binary runs, in the order the linker should place them (src/build.rs).
#   1. start-up, an idle second and a TCP probe (a connection closed unused,
#      as health checks do): what an idle server keeps resident,
#   2. a first client (/broadcast, one message),
#   3. then the common working set (benches/layout/workload.py: /broadcast and
#      /ws upgrades, frames, join/publish/subscribe, closes, shutdown).
# Symbol names carry a hash of the build (profile, and the features of every
# crate, which `cargo bench` unifies with the dev-dependencies'), so the
# default list holds the names of both the `cargo build --release` binary and
# the one `cargo bench` measures; a build finds its own and ignores the rest.
# Needs valgrind (callgrind), python3 and ss. Takes ~10 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=benches/layout
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
for build in default device; do
    flags=()
    [ "$build" = device ] && flags=(--no-default-features)
    ways=(release)
    [ "$build" = default ] && ways=(release bench)
    for way in "${ways[@]}"; do
        run=$out/$build-$way
        # The build as shipped, plus its link map (src/build.rs): the binary is
        # stripped, the map names every function's address.
        map=$PWD/target/layout-$build/loopcast-$way.map
        if [ "$way" = release ]; then
            LOOPCAST_LINK_MAP=$map cargo build --release --quiet "${flags[@]}" \
                --target-dir "target/layout-$build"
        else
            LOOPCAST_LINK_MAP=$map cargo bench --bench compare --no-run --quiet \
                --target-dir "target/layout-$build" 2>/dev/null
        fi
        bin=target/layout-$build/release/loopcast
        port=$(free_port)
        valgrind --tool=callgrind --callgrind-out-file="$run.%p" --dump-instr=yes \
            --compress-strings=no --compress-pos=no --demangle=no \
            "$bin" --listen "127.0.0.1:$port" --log-level warn 2>"$run.log" &
        vg=$!
        for _ in $(seq 100); do
            # Listening yet? (asked of the kernel: a test connection would run accept code)
            ss -Hltn "sport = :$port" | grep -q . && break
            sleep 0.2
        done
        sleep 2 # timers of an idle server
        python3 "$here/workload.py" "$port" probe
        callgrind_control -d "$vg" >/dev/null # phase 1 ends here
        python3 "$here/workload.py" "$port" first
        callgrind_control -d "$vg" >/dev/null # phase 2
        python3 "$here/workload.py" "$port" 1 >/dev/null
        kill -TERM "$vg"
        wait "$vg" || true
        # callgrind writes the phase dumps as NAME.PID.1, .2 and the rest as NAME.PID.
        python3 "$here/names.py" "$map" "$run".*.1 >"$run.idle"
        python3 "$here/names.py" "$map" "$run".*.2 >"$run.first"
        python3 "$here/names.py" "$map" $(ls "$run".* | grep '\.[0-9]*$' | grep -v '\.[12]$') >"$run.busy"
    done
    # The C start-up code first (crt1's _start and crtbegin's helpers: the
    # kernel enters at _start, and callgrind cannot name them in a stripped
    # binary), idle code of both builds, the first client's, then the rest;
    # each name once.
    printf '%s\n' _start frame_dummy register_tm_clones deregister_tm_clones \
        __do_global_dtors_aux >"$out/crt"
    awk '!seen[$0]++' "$out/crt" $(for p in idle first busy; do for w in "${ways[@]}"; do echo "$out/$build-$w.$p"; done; done) \
        >"src/layout/$build.order"
    echo "src/layout/$build.order: $(wc -l <"src/layout/$build.order") names"
done
