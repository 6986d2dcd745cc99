# ays bash action server: runs the functions of one actor's actions.sh (see shell.rs).
#
# It sources the file once (its top-level code runs here, with stdin closed and output on this
# server's stderr, which ays keeps to report a file that does not load), then reads one request
# per line on stdin, `id run service action attempt`, and for each forks a job: a subshell
# leading its own process group (job control is on) that sends its stdout and stderr to the
# FIFOs `$AYS_SCRATCH/<id>.out` and `.err`, exports the job's environment and calls the function
# in a nested subshell, then writes the function's exit status to `$AYS_SCRATCH/<id>.status`.
# The reply, `id pid` on the original stdout, names the job's process (and group). A job
# forked after ays died (its requests outlive it in the pipe) exits without running.
# Names used here start with `_ays_`, and builtins are called as such (but `exec`, whose
# redirections would not last otherwise), so that what the file
# defines (functions, IFS, `set -e`, an ERR trap) changes nothing but the jobs.
exec {_ays_reply}>&1 1>&2
builtin source "$AYS_ACTIONS_FILE" </dev/null || exit 97
# ays itself: a job whose server has lost it (ays was killed) does not run.
_ays_parent=$PPID
exec 2>/dev/null
# The jobs get the file's errexit/errtrace and ERR trap back; the job wrapper must not lose a
# status to them.
_ays_flags=${-//[^eE]/}
_ays_err_trap=$(builtin trap -p ERR)
builtin set +eE
builtin trap - ERR
builtin set -m
while IFS=' ' builtin read -r _ays_id _ays_run _ays_service _ays_action _ays_attempt; do
  _ays_base="$AYS_SCRATCH/$_ays_id"
  (
    # Opening a FIFO to write waits for its reader, forever if ays was killed after asking
    # for this job; opening it to read and write never waits, and then the write-only opens
    # find a reader. The job then runs only if ays is still this server's parent.
    exec {_ays_out}<>"$_ays_base.out" {_ays_err}<>"$_ays_base.err"
    exec </dev/null >"$_ays_base.out" 2>"$_ays_base.err" {_ays_reply}>&- {_ays_out}>&- \
      {_ays_err}>&-
    IFS=" " builtin read -r _ _ _ _ays_ppid _ <"/proc/$$/stat" && [[ $_ays_ppid == "$_ays_parent" ]] ||
      builtin exit 125
    builtin export AYS_RUN="$_ays_run" AYS_JOB="$_ays_service:$_ays_action" \
      AYS_SERVICE="$_ays_service" AYS_SERVICE_ROLE="${_ays_service%%!*}" \
      AYS_SERVICE_INSTANCE="${_ays_service#*!}" AYS_ACTION="$_ays_action" \
      AYS_ATTEMPT="$_ays_attempt" AYS_JOB_FILE="$_ays_base.job.json" \
      AYS_RESULT_FILE="$_ays_base.result.json"
    (
      builtin eval "$_ays_err_trap"
      [[ -n $_ays_flags ]] && builtin set "-$_ays_flags"
      if builtin declare -F -- "$AYS_ACTION" >/dev/null; then "$AYS_ACTION"; fi
    )
    builtin printf '%s\n' "$?" >"$_ays_base.status"
  ) &
  builtin printf '%s %s\n' "$_ays_id" "$!" >&"$_ays_reply"
  # Forget finished jobs, or bash keeps them all and each fork gets slower.
  builtin jobs -n >/dev/null
done
# Stdin closed: ays is done with this server, or died (SIGKILL). A job still running then
# would go on unseen, and run a second time alongside when the run resumes: end it (its whole
# process group).
for _ays_job in $(builtin jobs -p); do
  builtin kill -TERM -- "-$_ays_job"
done
