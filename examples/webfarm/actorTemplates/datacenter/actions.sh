# A datacenter is a directory under the repository's var/ tree.
install() {
    dir="$AYS_REPO/var/$AYS_SERVICE"
    mkdir -p "$dir"
    echo "datacenter $AYS_SERVICE_INSTANCE is ready" > "$dir/ready"
}

uninstall() {
    rm -rf "$AYS_REPO/var/$AYS_SERVICE"
}
