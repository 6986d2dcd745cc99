# The fixed models of AYS: everything the orchestrator persists, one struct per record kind.
#
# Records are stored in the key value store as unpacked Cap'n Proto messages; a service's own data
# is a packed message of its actor's data schema, held in `Service.data`. Timestamps are
# milliseconds since the Unix epoch (Int64); periods and timeouts are seconds (UInt32). Evolve
# this file only by appending fields: ordinals are the on-disk format.
@0xd5a2c7f7a1b94e01;

# The state of one action of one service (and the template-level state of an actor's action).
enum ActionState {
  new @0;
  changed @1;
  ok @2;
  scheduled @3;
  disabled @4;
  error @5;
  running @6;
}

# The state of a job, a run step or a run.
enum JobState {
  new @0;
  running @1;
  ok @2;
  error @3;
}

# The state of a service as a whole.
enum ServiceState {
  new @0;
  installing @1;
  ok @2;
  error @3;
  disabled @4;
  changed @5;
}

# The state of an actor.
enum ActorState {
  new @0;
  ok @1;
  error @2;
  disabled @3;
}

# The category of a job log line.
enum LogCategory {
  out @0;
  err @1;
  msg @2;
  alert @3;
  errormsg @4;
  trace @5;
}

# How an action's code is executed.
enum ActionRuntime {
  none @0;
  shell @1;
  python @2;
  native @3;
}

# An AYS repository: a directory with a `.ays` marker, registered in the store.
struct Repo {
  id @0 :Text;
  name @1 :Text;
  path @2 :Text;
  noExec @3 :Bool;
  storeUrl @4 :Text;
  createdAt @5 :Int64;
  templateDirs @6 :List(Text);
}

# A relation an actor requires: its parent, or one kind of producer it consumes.
struct ActorPointer {
  actorRole @0 :Text;
  minServices @1 :UInt32;
  maxServices @2 :UInt32;
  auto @3 :Bool;
  optional @4 :Bool;
  argKey @5 :Text;
}

# One action of an actor: its code by content key and how it is scheduled.
struct ActorAction {
  name @0 :Text;
  actionKey @1 :Text;
  period @2 :UInt32;
  log @3 :Bool;
  state @4 :ActionState;
  dependsOn @5 :List(Text);
  timeout @6 :UInt32;
  retries @7 :UInt32;
}

# Where an actor's template came from.
struct Origin {
  path @0 :Text;
  templateHash @1 :Text;
}

# A filter that routes external events to an action of a service.
struct EventFilter {
  channel @0 :Text;
  command @1 :Text;
  action @2 :Text;
  secret @3 :Text;
  tags @4 :List(Text);
}

# A per-repository copy of an actor template.
struct Actor {
  name @0 :Text;
  state @1 :ActorState;
  hasParent @2 :Bool;
  parent @3 :ActorPointer;
  producers @4 :List(ActorPointer);
  actions @5 :List(ActorAction);
  eventFilters @6 :List(EventFilter);
  origin @7 :Origin;
  serviceDataSchema @8 :Text;
  schemaId @9 :UInt64;
}

# A reference from one service to another.
struct ServicePointer {
  actorName @0 :Text;
  serviceName @1 :Text;
  key @2 :Text;
}

# The state of one action of one service.
struct ServiceAction {
  name @0 :Text;
  actionKey @1 :Text;
  state @2 :ActionState;
  period @3 :UInt32;
  lastRun @4 :Int64;
  log @5 :Bool;
}

# An instance of an actor, with its relations, action states and data.
struct Service {
  key @0 :Text;
  name @1 :Text;
  actorName @2 :Text;
  actorKey @3 :Text;
  state @4 :ServiceState;
  hasParent @5 :Bool;
  parent @6 :ServicePointer;
  producers @7 :List(ServicePointer);
  consumers @8 :List(ServicePointer);
  actions @9 :List(ServiceAction);
  eventFilters @10 :List(EventFilter);
  data @11 :Data;
  dataSchema @12 :Text;
  dataSchemaId @13 :UInt64;
}

# The code of one action, stored once under a key derived from its content.
struct ActionCode {
  key @0 :Text;
  name @1 :Text;
  actorName @2 :Text;
  runtime @3 :ActionRuntime;
  code @4 :Text;
  args @5 :Text;
  doc @6 :Text;
  origin @7 :Text;
  # The actions file `code` was read from, when `code` is that whole file as written (and
  # `name` one of its functions); empty when `code` is one function's body (stored before
  # whole files were).
  file @8 :Text;
  # With `file`: a hash of the function's own definition and of the file's lines outside the
  # actions, so that editing one action of a file changes only that action.
  fingerprint @9 :Text;
}

# One change of a job's state, with its time.
struct StateChange {
  epoch @0 :Int64;
  state @1 :JobState;
}

# One line of a job's log.
struct LogEntry {
  epoch @0 :Int64;
  level @1 :Int8;
  category @2 :LogCategory;
  message @3 :Text;
  tags @4 :Text;
}

# One action executed on one service within a run.
struct Job {
  key @0 :Text;
  runKey @1 :Text;
  repoKey @2 :Text;
  serviceKey @3 :Text;
  actorName @4 :Text;
  serviceName @5 :Text;
  actionName @6 :Text;
  actionKey @7 :Text;
  state @8 :JobState;
  stateChanges @9 :List(StateChange);
  logs @10 :List(LogEntry);
  args @11 :Text;
  result @12 :Text;
  attempts @13 :UInt32;
  maxAttempts @14 :UInt32;
  timeout @15 :UInt32;
  createdAt @16 :Int64;
  startedAt @17 :Int64;
  finishedAt @18 :Int64;
}

# A job as referenced from a run step; the Job record is authoritative.
struct JobRef {
  key @0 :Text;
  actorName @1 :Text;
  actionName @2 :Text;
  serviceName @3 :Text;
  serviceKey @4 :Text;
}

# One step of a run: jobs that may execute in parallel.
struct RunStep {
  number @0 :UInt32;
  state @1 :JobState;
  startedAt @2 :Int64;
  finishedAt @3 :Int64;
  jobs @4 :List(JobRef);
}

# A planned and executed set of jobs.
struct Run {
  key @0 :Text;
  repoKey @1 :Text;
  state @2 :JobState;
  createdAt @3 :Int64;
  finishedAt @4 :Int64;
  steps @5 :List(RunStep);
}
