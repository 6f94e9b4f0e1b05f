"""The RQ worker classes: SimpleWorker, so jobs run in the worker process itself.

Forking per job (RQ's default Worker) would redo the Mongo and loop set-up for every turn.
"""

import itertools
import time
import uuid
from collections.abc import Iterable
from typing import Any

import redis
from redis.client import Pipeline
from rq.exceptions import DequeueTimeout
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty
from rq.utils import as_text, now, utcformat
from rq.worker import SimpleWorker, WorkerStatus

from app.bus import keys, lanes, leases
from app.bus.queue import RUN_TURN, IdleSpot
from app.settings import Settings
from worker.outbox import Command, Outbox

HEARTBEAT_EVERY_SECONDS = 1.0
SUSPENSION_CHECK_EVERY_SECONDS = 1.0

# KEYS: the idle list, this worker's wake list, then where to look, first served first
# ARGV: job key prefix, leases key, lease expiry, how many of the queues hold turns, '1' to wait
# -> {queue key it came from, job id, job hash as field/value pairs}, or false
# A turn is marked started and its lease taken as it is taken: a worker that dies from here on
# leaves a lease to lapse, and another worker runs the turn again (app/bus/leases.py). A worker
# that finds nothing and will wait takes its place on the idle list in the same call, so a turn
# queued from then on wakes it (app/bus/lanes.py): it keeps its place while it stays idle, and
# leaves the list as it takes a job, to come back on top when it next waits.
_TAKE_WAITING_JOB = """
for index = 3, #KEYS do
  local queue_key = KEYS[index]
  local job_id = redis.call('LPOP', queue_key)
  while job_id do
    local job_key = ARGV[1] .. job_id
    if redis.call('EXISTS', job_key) == 1 then
      if index - 2 <= tonumber(ARGV[4]) then
        redis.call('HSET', job_key, 'status', 'started')
        redis.call('ZADD', ARGV[2], ARGV[3], job_id)
      end
      redis.call('LREM', KEYS[1], 0, KEYS[2])
      redis.call('DEL', KEYS[2])
      return {queue_key, job_id, redis.call('HGETALL', job_key)}
    end
    job_id = redis.call('LPOP', queue_key)  -- its hash expired or was deleted: skip it, as RQ does
  end
end
if ARGV[5] == '1' then
  redis.call('DEL', KEYS[2])  -- a token left from a wake another worker answered: every queue is empty
  if not redis.call('LPOS', KEYS[1], KEYS[2]) then redis.call('LPUSH', KEYS[1], KEYS[2]) end
end
return false
"""

# How long an idle worker waits to be woken before it looks at every queue (thoughts, which
# wake nobody) again; RQ's own loop heartbeats in between.
IDLE_WAIT_SECONDS = 1


class PersonaQueue(Queue):
    """RQ's Queue, whose dequeue takes a job and its hash in one round trip, waiting or not.

    RQ pops a job id (BLPOP on the queues), then fetches the job's hash: two round trips per job,
    and Redis wakes the worker that has waited longest. Here a script pops and fetches at once,
    in queue order. A worker that finds every queue empty waits on a wake list of its own, stacked
    on its queue's idle list, so a queued turn wakes the worker that went idle last (see
    app/bus/lanes.py); the same script, sent right behind the wait, takes the job as soon as the
    wait returns, without a second round trip. A wait ends after IDLE_WAIT_SECONDS, when the
    script looks at every queue again: a job pushed by stock RQ (thoughts, `rq requeue`) wakes
    nobody and waits for that.
    """

    holds_turns = False  # the turn queue: its jobs are leased as they are taken

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Each worker builds its own queues, so each has its own wake list.
        self.spot = IdleSpot(keys.idle_workers(self.name), keys.worker_wake(uuid.uuid4().hex))

    @classmethod
    def dequeue_any(
        cls,
        queues: Iterable[Queue],
        timeout: int | None,
        connection: redis.Redis,
        job_class: type[Job] | None = None,
        serializer: Any = None,
        death_penalty_class: Any = None,
    ) -> tuple[Job, Queue] | None:
        by_key = {queue.key: queue for queue in queues}
        first = next(iter(by_key.values()))
        if not isinstance(first, PersonaQueue):
            raise TypeError("a PersonaWorker's first queue is a PersonaQueue: it holds the worker's wake list")
        take_keys = [*first.spot, *by_key]
        leased = sum(1 for _ in itertools.takewhile(lambda q: getattr(q, "holds_turns", False), by_key.values()))
        will_wait = "1" if timeout is not None else "0"

        def take_args(wait: float) -> tuple[object, ...]:
            expiry = time.time() + wait + leases.LEASE_SECONDS
            prefix = Job.redis_job_namespace_prefix
            return (len(take_keys), *take_keys, prefix, keys.turn_leases(), expiry, leased, will_wait)

        taken = connection.eval(_TAKE_WAITING_JOB, *take_args(0))
        if not taken and timeout is not None:
            wait = min(timeout, IDLE_WAIT_SECONDS)
            pipeline = connection.pipeline(transaction=False)
            pipeline.blpop([first.spot.wake_list], wait)
            pipeline.eval(_TAKE_WAITING_JOB, *take_args(wait))
            _, taken = pipeline.execute()
            if not taken:
                raise DequeueTimeout(timeout, list(by_key))
        if not taken:
            return None
        taken_from, job_id, fields = taken
        job = (job_class or Job)(as_text(job_id), connection=connection, serializer=serializer)
        job.restore(dict(zip(fields[::2], fields[1::2], strict=True)))
        return job, by_key[as_text(taken_from)]


def worker_queues(client: redis.Redis, settings: Settings) -> list[PersonaQueue]:
    """A worker's queues, turns first (a waiting user outranks a reflection)."""
    turns = PersonaQueue(settings.queue_name, connection=client, serializer=JSONSerializer)
    turns.holds_turns = True
    return [turns, PersonaQueue(settings.thoughts_queue_name, connection=client, serializer=JSONSerializer)]


class PersonaWorker(SimpleWorker):
    """A worker process's RQ loop (`python -m worker`), tuned for many short jobs.

    Stock RQ sends a standalone worker heartbeat (three round trips) three times per job, and
    another inside the start-of-job transaction, to extend a key that lives `worker_ttl + 60`
    seconds, and asks Redis whether `rq suspend` was run before every job. Turns take
    milliseconds, so heartbeats and that check happen at most once per second. Two more round
    trips per job that carry nothing for turns are skipped (see set_state,
    handle_execution_ended), the two pipelines RQ sends before a job starts go as one (see
    prepare_execution), and a turn's success is recorded in one transaction instead of four round
    trips (see handle_job_success). A turn's start, reply, lane step and success travel on one
    connection and are confirmed together at its end (worker/outbox.py): one wait per turn.
    """

    queue_class = PersonaQueue
    _last_heartbeat = 0.0
    _last_suspension_check = 0.0
    _held: Pipeline | None = None
    _outbox: Outbox | None = None
    _turn_execution: Execution | None = None
    _turn_remove_from_intermediate_queue = False

    def execute_job(self, job: Job, queue: Queue) -> None:
        """A turn runs before RQ's start-of-job writes are even built: they follow its reply and
        lane step (see prepare_job_execution). It was marked started and leased as it was taken (PersonaQueue)."""
        if job.func_name != RUN_TURN:
            super().execute_job(job, queue)
            return
        self._turn_execution = None
        self._state = WorkerStatus.BUSY  # what RQ's warm shutdown asks; written with the deferred start
        self.perform_job(job, queue, None)  # type: ignore[arg-type]  # built with the deferred start
        self.set_state(WorkerStatus.IDLE)

    def prepare_execution(self, job: Job) -> Execution:
        """RQ's execution record, held back to travel with prepare_job_execution's writes.

        Stock RQ sends these writes, then prepare_job_execution's, as two round trips in a row on
        the path from dequeue to the job's first line; nothing reads Redis in between.
        """
        pipeline = self.connection.pipeline()
        self._held = pipeline
        return self._record_execution(job, pipeline)

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """RQ's bookkeeping before a job (status started), sent with the held execution record in
        one pipeline. For a turn, all of it is deferred on the turn's outbox, after its reply and
        its lane step, so neither waits for building RQ's writes nor for Redis applying them (the
        turn was marked started and leased as it was taken). A turn that ends before it went out
        (within START_WRITES_AFTER_SECONDS, as a rules turn does) has its start written with its
        success in one transaction, without the execution record that the start would create
        and the success delete at once: RQ's view of the finished job is the same. Thoughts take
        no lease: nothing renews one for them, and a re-run reflection would move the mood twice.
        The worker's heartbeat rides along at most once a second; RQ's separate job heartbeat
        repeats the timestamp `prepare_for_execution` writes, so it is left out."""
        if job.func_name == RUN_TURN:
            self._turn_remove_from_intermediate_queue = remove_from_intermediate_queue
            self.outbox.defer("start", lambda: self._turn_start(job, remove_from_intermediate_queue), transaction=True)
        else:
            pipeline, self._held = self._held or self.connection.pipeline(), None
            with pipeline:
                self._start_writes(job, pipeline, remove_from_intermediate_queue)
                pipeline.execute()
        self.procline(f"Processing {job.func_name} from {job.origin} since {time.time()}")

    def _record_execution(self, job: Job, pipeline: Pipeline) -> Execution:
        execution = Execution.create(job, self.get_heartbeat_ttl(job), pipeline=pipeline, worker_name=self.name)
        self.executions[execution.id] = execution
        self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
        return execution

    def _start_writes(self, job: Job, pipeline: Pipeline, remove_from_intermediate_queue: bool) -> None:
        if self._heartbeat_due():
            self.heartbeat(self.get_heartbeat_ttl(job), pipeline=pipeline)
        job.prepare_for_execution(self.name, pipeline=pipeline)  # sets the job's heartbeat too
        pipeline.persist(job.key)
        if remove_from_intermediate_queue:
            pipeline.lrem(Queue(job.origin, connection=self.connection).intermediate_queue_key, 1, job.id)

    def _turn_start(self, job: Job, remove_from_intermediate_queue: bool) -> list[Command]:
        """A turn's start sent while it runs (a long turn): RQ's execution record and start writes."""
        pipeline = self.connection.pipeline()
        self._turn_execution = self._record_execution(job, pipeline)
        self._turn_start_fields(job, pipeline, remove_from_intermediate_queue)
        return [args for args, _ in pipeline.command_stack]

    def _turn_start_fields(self, job: Job, pipeline: Pipeline, remove_from_intermediate_queue: bool) -> None:
        """RQ's start writes for a turn, with the time it really started (RQ's would say now)."""
        started = job.started_at
        self._start_writes(job, pipeline, remove_from_intermediate_queue)
        if started is not None:
            job.started_at = started
            pipeline.hset(job.key, "started_at", utcformat(started))

    def _turn_execution_of(self, execution: Execution | None) -> Execution | None:
        """A turn's execution record, its deferred start sent first if nothing sent it yet."""
        self.outbox.send_deferred()
        return execution or self._turn_execution

    def register_death(self) -> None:
        """A worker that stops leaves its queue's idle list (a turn queued next wakes a live one),
        passing on a wake it was given (app/bus/lanes.py)."""
        first = self.queues[0]
        if isinstance(first, PersonaQueue):
            self.connection.eval(lanes.LEAVE_SCRIPT, 2, *first.spot)
        super().register_death()

    def check_for_suspension(self, burst: bool) -> None:
        now = time.monotonic()
        if now - self._last_suspension_check >= SUSPENSION_CHECK_EVERY_SECONDS:
            self._last_suspension_check = now
            super().check_for_suspension(burst)

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """RQ writes IDLE twice per job (after it, and again before dequeueing): once is enough."""
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline)

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        """RQ heartbeats the job here, a round trip of its own, to cover its success or failure
        callback; turns have none, and RQ's own pipeline records the outcome right after."""
        if job.success_callback is None and job.failure_callback is None:
            job.ended_at = now()
            return
        super().handle_execution_ended(job, queue, heartbeat_ttl)

    def handle_job_success(
        self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry, execution: Execution
    ) -> None:
        """A turn's success: RQ's own writes, and the worker's return to IDLE, in one transaction.

        Stock RQ first WATCHes and reads the job's dependents (two round trips) so it can enqueue
        jobs waiting on this one, then sends its transaction, then marks the worker idle. Nothing
        depends on a turn: turns are enqueued by the lane script, one after another in their
        session's lane, never with `depends_on`. A turn returns nothing (its reply was published as
        soon as it was recorded), so instead of re-saving the whole job hash with a result entry,
        only what changed is written: status, end time, the finished registry. Other jobs take
        RQ's path.
        """
        if job.func_name != RUN_TURN:
            super().handle_job_success(job, queue, started_job_registry, execution)
            return
        quick = self.outbox.drop_deferred()  # it ended before its start went out: both go now
        execution = None if quick else execution or self._turn_execution
        with self.connection.pipeline() as pipeline:
            if quick:
                self._turn_start_fields(job, pipeline, self._turn_remove_from_intermediate_queue)
            self.increment_successful_job_count(pipeline=pipeline)
            self.increment_total_working_time(job.ended_at - job.started_at, pipeline)  # type: ignore[operator]
            result_ttl = job.get_result_ttl(self.default_result_ttl)
            if result_ttl != 0:
                pipeline.hset(job.key, mapping={"status": JobStatus.FINISHED, "ended_at": utcformat(job.ended_at)})
                job.finished_job_registry.add(job, result_ttl, pipeline)
            job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
            if execution is not None:
                self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)
            self._send_for_turn("start and success" if quick else "success", pipeline)
        self.outbox.confirm()

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: StartedJobRegistry | None = None,
        exc_string: str = "",
        execution: Execution | None = None,
    ) -> None:
        """A failed turn's bookkeeping in flight (its deferred start included) is confirmed, its
        lane step redone if it was lost, before RQ records the failure."""
        if job.func_name == RUN_TURN:
            try:
                execution = self._turn_execution_of(execution)
                self.outbox.confirm()
            except Exception:
                self.log.exception("turn %s: bookkeeping not confirmed by Redis", job.id)
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)

    def _send_for_turn(self, what: str, pipeline: Pipeline) -> None:
        """RQ's writes for a turn, in one transaction on the turn's outbox, not waited for. Should
        they be lost on the way, RQ records the job as failed (as when RQ's own pipeline fails)."""
        self.outbox.send(what, [args for args, _ in pipeline.command_stack], transaction=True)
        if not self.outbox.in_use:
            self.outbox.confirm()

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            self._outbox = Outbox(self.connection)
        return self._outbox

    def _heartbeat_due(self) -> bool:
        """Whether a second has passed since the last heartbeat; if so, the next one is now."""
        at = time.monotonic()
        if at - self._last_heartbeat < HEARTBEAT_EVERY_SECONDS:
            return False
        self._last_heartbeat = at
        return True

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if pipeline is None and timeout is None:
            if not self._heartbeat_due():
                return
            if not self.connection.exists(self.key):  # Redis restarted empty: say we exist again
                self.log.warning("worker %s: registration lost (Redis restarted?); registering again", self.name)
                self.register_birth()
        super().heartbeat(timeout, pipeline)


class ThreadWorker(PersonaWorker):
    """The embedded worker: runs in a thread of the API process, where signals cannot be set."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        """The API process (uvicorn) owns signal handling; it stops us through `stop()`."""
