# An ssh key: random bytes written once, with their fingerprint stored in the service data.
install() {
    dir="$AYS_REPO/var/$AYS_SERVICE"
    mkdir -p "$dir"
    [ -f "$dir/id" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/id"
    printf '{"fingerprint": "%s"}' "$(cut -c1-16 "$dir/id")" > "$AYS_RESULT_FILE"
}

uninstall() {
    rm -rf "$AYS_REPO/var/$AYS_SERVICE"
}
