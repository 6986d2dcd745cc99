# The load balancer's configuration lists its apps, read from the job's producers.
install() {
    dir="$AYS_REPO/var/$AYS_SERVICE"
    mkdir -p "$dir"
    python3 - "$dir/backends.conf" <<'PY'
import json, os, sys
job = json.load(open(os.environ["AYS_JOB_FILE"]))
with open(sys.argv[1], "w") as conf:
    # Producers are grouped by role, as in AYS 8.1: producers["app"] is the list of apps.
    for app in sorted(job["producers"].get("app", []), key=lambda p: p["key"]):
        conf.write("backend %s 127.0.0.1:%s\n" % (app["key"], app["data"]["port"]))
PY
}

uninstall() {
    rm -rf "$AYS_REPO/var/$AYS_SERVICE"
}
