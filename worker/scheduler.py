"""`python -m worker.scheduler`: enqueue each persona's thinking job once per period.

Any number may run (say, one per host for redundancy): whoever claims a persona's slot for the
current period (SET NX in Redis) enqueues it, so a persona thinks once per period however many
schedulers, workers or API replicas exist. RQ 3's CronScheduler is not used: it enqueues with
RQ's default (pickle) serializer, which these JSON workers do not read, and it claims nothing,
so two of them would think twice.
"""

import logging
import threading
import time

import redis
from rq import Queue
from rq.serializers import JSONSerializer
from setproctitle import setproctitle

from app import logs
from app.bus import presence
from app.bus.connections import make_clients
from app.catalog import load_catalog
from app.settings import Settings, get_settings

log = logging.getLogger("worker.scheduler")
THINK = "worker.thinking.think"


def schedule_once(client: redis.Redis, settings: Settings, persona_ids: list[str], now: float) -> list[str]:
    """Enqueue the thinking of every persona whose slot for this period is still free."""
    period = int(now // settings.thought_interval_seconds)
    queue = Queue(settings.thoughts_queue_name, connection=client, serializer=JSONSerializer)
    scheduled = []
    for persona_id in persona_ids:
        if presence.claim_thought_slot(client, persona_id, period, ttl=2 * settings.thought_interval_seconds):
            queue.enqueue(
                THINK,
                persona_id,
                job_timeout=settings.job_timeout_seconds,
                result_ttl=settings.thought_interval_seconds * 10,
                description=f"think {persona_id}",
            )
            scheduled.append(persona_id)
    return scheduled


def run(client: redis.Redis, settings: Settings, stop: threading.Event) -> None:
    catalog = load_catalog(settings.personas_file, settings.persona_mode, settings.persona_id)
    interval = settings.thought_interval_seconds
    while not stop.is_set():
        try:
            schedule_once(client, settings, catalog.ids, time.time())
        except redis.RedisError:
            log.exception("could not schedule thinking; retrying next period")
        stop.wait(interval - time.time() % interval + 0.01)  # wake just after the next period starts


def main() -> None:
    setproctitle("persona-scheduler")
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    if not settings.redis_url:
        raise SystemExit("REDIS_URL is not set: the scheduler needs the shared Redis")
    clients = make_clients(settings.redis_url, "persona-scheduler")
    stop = threading.Event()
    try:
        run(clients.sync_client, settings, stop)
    except KeyboardInterrupt:
        stop.set()


if __name__ == "__main__":
    main()
