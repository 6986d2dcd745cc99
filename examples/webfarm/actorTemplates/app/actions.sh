# An app is a page on disk and a long-running local process that stands for its server.
install() {
    dir="$AYS_REPO/var/$AYS_SERVICE"
    mkdir -p "$dir/www"
    echo "<h1>$AYS_SERVICE_INSTANCE on port $(port)</h1>" > "$dir/www/index.html"
}

start() {
    dir="$AYS_REPO/var/$AYS_SERVICE"
    stop_process "$dir"
    # setsid: the server outlives the action's process group.
    setsid sleep 3600 </dev/null >/dev/null 2>&1 &
    echo $! > "$dir/pid"
    printf '{"pid": %d}' "$!" > "$AYS_RESULT_FILE"
}

stop() {
    stop_process "$AYS_REPO/var/$AYS_SERVICE"
    printf '{"pid": 0}' > "$AYS_RESULT_FILE"
}

uninstall() {
    stop_process "$AYS_REPO/var/$AYS_SERVICE"
    rm -rf "$AYS_REPO/var/$AYS_SERVICE"
}

stop_process() {
    if [ -f "$1/pid" ]; then
        kill "$(cat "$1/pid")" 2>/dev/null || true
        rm -f "$1/pid"
    fi
}

port() {
    python3 -c 'import json, os; print(json.load(open(os.environ["AYS_JOB_FILE"]))["service"]["data"]["port"])'
}
