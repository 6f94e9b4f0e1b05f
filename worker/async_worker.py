"""`AsyncWorker`: one process's RQ worker, running up to N jobs at once on one event loop.

A turn waits on a model for most of its life, so a worker holds many turns at once rather than
one (RQ's own workers run one job at a time per process). Shaped like RQ's asyncio worker in
review upstream (rq/rq#2445, `AsyncWorker`), so a later RQ release can take this loop's place:
- a semaphore bounds the jobs in flight; a slot is taken BEFORE a job is popped, so nothing is
  popped that cannot start;
- each queue is popped with BLMOVE into RQ's intermediate queue on an asyncio Redis client, as
  RQ's own dequeue does; a job's start and end are RQ's own public calls (one RQ Execution per
  job), whose pipeline arguments only queue commands, given an asyncio pipeline: one round trip
  each, no thread (see docs/architecture.md for what this buys over calling RQ's synchronous
  `handle_job_success` in a thread); registration, heartbeats and maintenance are RQ's calls in
  a thread;
- a job function is a coroutine that receives the process's runtime as its first argument
  (context passed explicitly; nothing module-global);
- SIGTERM/SIGINT: warm shutdown (take nothing new, finish what is in flight, exit 0); a second
  signal cancels what is in flight.
On the turn queue each job is leased as it is popped (app/bus/leases.py, worker/leases.py), so a
process killed with N turns in flight has all N run again elsewhere within seconds.
"""

import asyncio
import logging
import signal
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

import redis
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from rq import worker_registration
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.results import Result
from rq.suspension import is_suspended
from rq.timeouts import TimerDeathPenalty
from rq.utils import now
from rq.worker import BaseWorker, WorkerStatus

from app.background import cancel_and_wait
from app.bus import keys
from app.bus.connections import decoded
from app.bus.lanes import Lanes, for_rq
from app.bus.leases import RENEW_EVERY_SECONDS, Leases
from app.logs import short
from worker.leases import recover

log = logging.getLogger(__name__)

POP_WAIT_SECONDS = 1  # a blocked pop returns this often: well inside the client's socket timeout (5 s)
# RQ's start records of a job go out this long after it was taken, if it is still running, else
# with its end records: a rules turn is over before then (docs/architecture.md says what it buys).
START_WRITES_AFTER_SECONDS = 0.01
HEARTBEAT_EVERY_SECONDS = 10.0  # the worker's and its executions' RQ heartbeats (TTLs are longer)
POP_RETRY_SECONDS, POP_RETRY_MAX_SECONDS = 0.5, 5.0  # waits between pops while Redis is unreachable


@dataclass
class InFlight:
    job: Job
    queue: Queue
    leased: bool
    task: "asyncio.Task[None] | None" = None
    start_timer: asyncio.TimerHandle | None = None
    started: "asyncio.Task[Execution] | None" = None  # RQ's start records, once sent


class ExecutionSpan(TypedDict, total=False):
    """The Execution a job's Result names, when its start was recorded."""

    execution_id: str
    execution_started_at: datetime


class AsyncWorker(BaseWorker):
    death_penalty_class = TimerDeathPenalty  # RQ's callbacks, if any, run in threads

    def __init__(
        self,
        queues: list[Queue],
        *,
        connection: redis.Redis,
        async_connection: aioredis.Redis,
        runtime: Any,
        concurrency: int,
        leased: Queue | None = None,
        lanes: Lanes | None = None,
        companions: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
        **kwargs: Any,
    ) -> None:
        """`runtime` is handed to every job function; jobs of `leased` (the turn queue) are leased,
        and `lanes` moves a given-up turn's session on. `companions` run beside the jobs for the
        worker's life (the turns' barge-in listener)."""
        super().__init__(queues, connection=connection, **kwargs)
        self.concurrency = concurrency
        self._async = async_connection
        self._runtime = runtime
        self._leased = leased
        self._leases = Leases(async_connection)
        self._lanes = lanes
        self._companions = companions
        self._in_flight: dict[str, InFlight] = {}
        self._stopping = asyncio.Event()
        self._cold = False

    # ---- the loop -------------------------------------------------------------------------

    async def run(self, burst: bool = False, install_signals: bool = True) -> None:
        """Register, pop and run jobs until stopped (or, with `burst`, until every queue is empty)."""
        # RQ logs every job at INFO: its own loggers say only what goes wrong, unless debugging.
        rq_level = "DEBUG" if log.isEnabledFor(logging.DEBUG) else "WARNING"
        await asyncio.to_thread(self.bootstrap, rq_level)
        if self._lanes is not None:
            await self._lanes.load()
        if install_signals:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.request_shutdown)
        slots = asyncio.Semaphore(self.concurrency)
        poppers = [asyncio.create_task(self._pop_loop(q, slots, burst), name=f"pop {q.name}") for q in self.queues]
        keeper = asyncio.create_task(self._keep(), name="keeper")
        companions = [asyncio.create_task(companion()) for companion in self._companions]
        try:
            if burst:
                await asyncio.gather(*poppers)
            else:
                await self._stopping.wait()
        finally:
            await cancel_and_wait(*poppers)
            await self._drain()
            await cancel_and_wait(keeper, *companions)
            await asyncio.to_thread(self.teardown)
        log.info("worker %s stopped", self.name)

    def request_shutdown(self) -> None:
        """First call: warm shutdown. A second one cancels the jobs still in flight."""
        if self._stopping.is_set():
            self._cold = True
            log.warning("cold shutdown: cancelling %d jobs in flight", len(self._in_flight))
            for running in self._in_flight.values():
                if running.task is not None:
                    running.task.cancel()
            return
        self.handle_warm_shutdown_request()
        log.info("warm shutdown: finishing %d jobs in flight, taking no new ones", len(self._in_flight))
        self._stopping.set()

    async def _drain(self) -> None:
        tasks = [running.task for running in self._in_flight.values() if running.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _pop_loop(self, queue: Queue, slots: asyncio.Semaphore, burst: bool) -> None:
        backoff = POP_RETRY_SECONDS
        while not self._stopping.is_set():
            await slots.acquire()
            try:
                job = await self._pop(queue, burst)
            except redis.RedisError as exc:  # Redis away: say so once per attempt, then wait for it
                slots.release()
                log.error("cannot take jobs from %s: %s; retrying in %.1f s", queue.name, short(exc), backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, POP_RETRY_MAX_SECONDS)
                continue
            except BaseException:
                slots.release()
                raise
            backoff = POP_RETRY_SECONDS
            if job is None:
                slots.release()
                if burst and not self._in_flight:
                    return
                if burst:
                    await asyncio.sleep(0.01)
                continue
            self._start(job, queue).add_done_callback(lambda _: slots.release())

    async def _pop(self, queue: Queue, burst: bool) -> Job | None:
        """The next job of `queue` with its hash (and, on the turn queue, its lease) in one more round trip."""
        if self._suspension_due() and await asyncio.to_thread(is_suspended, self.connection):
            await asyncio.sleep(1)  # `rq suspend`: take nothing until `rq resume`
            return None
        while True:
            if burst:
                raw_id = await self._async.lmove(queue.key, queue.intermediate_queue_key)
            else:
                raw_id = await self._async.blmove(queue.key, queue.intermediate_queue_key, POP_WAIT_SECONDS)
            if raw_id is None:
                return None
            job_id = decoded(raw_id)
            async with self._async.pipeline(transaction=False) as pipe:
                pipe.hgetall(Job.key_for(job_id))
                if queue is self._leased:
                    Leases.hold(pipe, [job_id], time.time())
                fields, *_ = await pipe.execute()
            if fields:
                job = queue.job_class(job_id, connection=self.connection, serializer=self.serializer)
                job.restore(fields)
                return job
            # Its hash expired or was deleted while it waited: skip it, as RQ does.
            async with self._async.pipeline(transaction=False) as pipe:
                pipe.lrem(queue.intermediate_queue_key, 1, job_id)
                pipe.zrem(keys.turn_leases(), job_id)
                await pipe.execute()

    _last_suspension_check = 0.0

    def _suspension_due(self) -> bool:
        """`rq suspend` is honoured within a second; asking Redis before every pop would cost a round trip."""
        moment = time.monotonic()
        if moment - self._last_suspension_check < 1.0:
            return False
        self._last_suspension_check = moment
        return True

    # ---- one job ----------------------------------------------------------------------------

    def _start(self, job: Job, queue: Queue) -> "asyncio.Task[None]":
        job.started_at = job.last_heartbeat = now()
        job.worker_name = self.name
        running = InFlight(job, queue, leased=queue is self._leased)
        running.start_timer = asyncio.get_running_loop().call_later(
            START_WRITES_AFTER_SECONDS, self._send_start, running
        )
        self._in_flight[job.id] = running
        running.task = asyncio.create_task(self._perform(running), name=f"job {job.id}")
        return running.task

    def _send_start(self, running: InFlight) -> None:
        running.start_timer = None
        running.started = asyncio.create_task(self._record_start(running))

    async def _record_start(self, running: InFlight) -> Execution:
        """RQ's view of a job still running START_WRITES_AFTER_SECONDS after it was taken, in one
        round trip: its Execution, the worker busy, the job `started` (with the time it really
        started), out of its intermediate queue. RQ's `prepare_execution` and
        `prepare_job_execution` write the same; their pipeline calls only queue commands, so they
        go on an asyncio pipeline here."""
        job, ttl = running.job, self.get_heartbeat_ttl(running.job)
        async with self._async.pipeline() as pipe:
            execution = Execution.create(job, ttl, pipeline=for_rq(pipe), worker_name=self.name)
            self.executions[execution.id] = execution
            self.set_state(WorkerStatus.BUSY, pipeline=for_rq(pipe))
            self.heartbeat(ttl, pipeline=for_rq(pipe))
            self._mark_started(running, pipe)
            await pipe.execute()
        return execution

    def _mark_started(self, running: InFlight, pipe: Pipeline) -> None:
        job = running.job
        job.set_status(JobStatus.STARTED, pipeline=for_rq(pipe))
        job.save(pipeline=for_rq(pipe), include_meta=False)
        pipe.persist(job.key)
        pipe.lrem(running.queue.intermediate_queue_key, 1, job.id)

    async def _perform(self, running: InFlight) -> None:
        """Run the job while its start is recorded, then record its end: RQ's registries then say
        what happened."""
        job = running.job
        failure: BaseException | None = None
        try:
            function: Callable[..., Awaitable[Any]] = job.func
            timeout = job.timeout if job.timeout and job.timeout > 0 else None
            async with asyncio.timeout(timeout):
                await function(self._runtime, *job.args, **job.kwargs)
        except Exception as exc:
            failure = exc
        except asyncio.CancelledError:  # a cold shutdown: RQ finds the job abandoned later
            if running.start_timer is not None:
                running.start_timer.cancel()
            self._in_flight.pop(job.id, None)
            raise
        try:
            if running.start_timer is not None:  # it ended before its start went out: both go now
                running.start_timer.cancel()
                await self._record_end(running, None, failure)
            else:
                assert running.started is not None
                await self._record_end(running, await running.started, failure)
        except Exception:
            log.exception("could not record the end of job %s in RQ", job.id, extra={"job_id": job.id})
        finally:
            self._in_flight.pop(job.id, None)

    async def _record_end(self, running: InFlight, execution: Execution | None, failure: BaseException | None) -> None:
        """RQ's records of a job's end in one transaction: what `handle_job_success` and
        `handle_job_failure` write for a job with no dependents, repeats, retries or callbacks
        (turns and thoughts have none), composed from the same public calls. A job whose start
        was never sent (it took less than START_WRITES_AFTER_SECONDS) gets no Execution record:
        RQ's view of it once ended is the same, without one written and deleted at once."""
        job, queue = running.job, running.queue
        job.ended_at = now()
        assert job.started_at is not None
        span: ExecutionSpan = (
            {"execution_id": execution.id, "execution_started_at": execution.created_at} if execution else {}
        )
        async with self._async.pipeline() as pipe:
            if execution is None:
                self._mark_started(running, pipe)
            if failure is None:
                ttl = job.get_result_ttl(self.default_result_ttl)
                job.set_status(JobStatus.FINISHED, pipeline=for_rq(pipe))
                job.save(pipeline=for_rq(pipe), include_meta=False, include_result=False)
                if ttl != 0:
                    Result.create(job, Result.Type.SUCCESSFUL, ttl, worker_name=self.name, pipeline=pipe,
                                  execution_ended_at=job.ended_at, **span)  # fmt: skip
                    job.finished_job_registry.add(job, ttl, pipeline=pipe)
                job.cleanup(ttl, pipeline=for_rq(pipe), remove_from_queue=False)
                self.increment_successful_job_count(pipeline=for_rq(pipe))
            else:
                exc_string = "".join(traceback.format_exception(failure))
                job.set_status(JobStatus.FAILED, pipeline=for_rq(pipe))
                queue.failed_job_registry.add(job, ttl=job.failure_ttl, exc_string=exc_string, pipeline=pipe)
                Result.create_failure(job, job.failure_ttl, exc_string, worker_name=self.name, pipeline=pipe,
                                      execution_ended_at=job.ended_at, **span)  # fmt: skip
                self.increment_failed_job_count(pipeline=for_rq(pipe))
            self.increment_total_working_time(job.ended_at - job.started_at, for_rq(pipe))
            if execution is not None:
                self.cleanup_execution(job, pipeline=for_rq(pipe), execution=execution)
            if len(self._in_flight) <= 1:  # this one is the last in flight
                self.set_state(WorkerStatus.IDLE, pipeline=for_rq(pipe))
            await pipe.execute()

    # ---- keeping leases, heartbeats and maintenance ----------------------------------------

    async def _keep(self) -> None:
        """Once a second: renew this worker's leases and recover turns whose worker died. Every
        HEARTBEAT_EVERY_SECONDS: RQ's heartbeats and, when due, its maintenance. Nothing raised
        here ends the loop: a keeper that died would leave this worker's turns to run twice."""
        last_heartbeat = time.monotonic()
        while True:
            await asyncio.sleep(RENEW_EVERY_SECONDS)
            try:
                await self.keep_leases(time.time())
                if time.monotonic() - last_heartbeat >= HEARTBEAT_EVERY_SECONDS:
                    last_heartbeat = time.monotonic()
                    await asyncio.to_thread(self._heartbeats)
            except Exception:
                log.exception("keeping leases and heartbeats failed; retrying")

    async def keep_leases(self, moment: float) -> None:
        """Renew this worker's leases; recover the turns whose lease lapsed by `moment`."""
        await self._leases.renew([job_id for job_id, r in self._in_flight.items() if r.leased], moment)
        for turn_id in await self._leases.claim_expired(moment):
            if self._leased is not None and self._lanes is not None:
                await recover(self._leased, self._async, self._lanes, turn_id)

    def _heartbeats(self) -> None:
        """RQ's heartbeats for the worker and each execution in flight, in one round trip. A
        worker whose registration is gone (Redis restarted empty) registers again."""
        with self.connection.pipeline() as pipe:
            self.heartbeat(pipeline=pipe)
            for running in list(self._in_flight.values()):
                started = running.started
                if started is not None and started.done() and not started.cancelled() and not started.exception():
                    job = running.job
                    working = (now() - job.started_at).total_seconds() if job.started_at else 0.0
                    started.result().heartbeat(job.started_job_registry, self.get_heartbeat_ttl(job, working), pipe)
            created, *_ = pipe.execute()
        if created:  # HSET made a new hash: the worker's registration had vanished
            log.warning("worker %s: registration lost (Redis restarted?); registering again", self.name)
            with self.connection.pipeline() as pipe:
                pipe.hset(self.key, mapping=self.serialize())
                worker_registration.register(self, pipe)
                pipe.expire(self.key, self.worker_ttl + 60)
                pipe.execute()
        if self.should_run_maintenance_tasks:
            self.run_maintenance_tasks()
