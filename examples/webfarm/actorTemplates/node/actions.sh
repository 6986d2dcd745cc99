# A node is provisioned slowly (one second), so that a run shows nodes installing in parallel.
install() {
    dir="$AYS_REPO/var/$AYS_SERVICE"
    mkdir -p "$dir"
    sleep 1
    echo "$AYS_SERVICE_INSTANCE" > "$dir/hostname"
    printf '{"hostname": "%s.farm"}' "$AYS_SERVICE_INSTANCE" > "$AYS_RESULT_FILE"
}

uninstall() {
    rm -rf "$AYS_REPO/var/$AYS_SERVICE"
}
