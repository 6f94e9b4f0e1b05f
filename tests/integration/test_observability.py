"""What an operator scrapes and traces moves with real turns through real API and worker processes."""

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_llm_brain import (  # noqa: F401  (fake_llm and closes_brains are fixtures)
    ask,
    closes_brains,
    fake_llm,
    llm_brain,
)
from tests.integration.test_streaming import ask_for_story, client_of, model, streaming_stack  # noqa: F401  (model is a fixture)
from tests.support.fake_llm import FakeLlm
from tests.support.scene import Scene
from tests.support.stack import Stack, free_port, wait_for


def samples(url: str, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(url, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(scraped: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_with_turns_through_api_and_workers(stack: Stack, redis_url: str) -> None:
    base = free_port()
    stack.workers(redis_url, processes=2, METRICS_PORT=str(base))
    api = stack.api(redis_url)
    worker_urls = [f"http://127.0.0.1:{base + index}/metrics" for index in (0, 1)]

    def turns(outcome: str = "answered", door: str = "soulmachines") -> float:
        return sum(value(samples(url), "persona_turns_total", door=door, outcome=outcome) for url in worker_urls)

    def serving(url: str) -> bool:
        try:
            return httpx.get(url).status_code == 200
        except httpx.HTTPError:  # its metrics server not listening yet
            return False

    wait_for(lambda: all(serving(url) for url in worker_urls), 20, "both workers' metrics")
    scene = await Scene.open(api.url, "sess-metrics")
    assert value(samples(f"{api.url}/metrics"), "persona_sockets_open", door="soulmachines") == 1
    for text in ("", "hello", "how are you"):
        await scene.say(text, kind="init" if not text else None)
    wait_for(lambda: turns() == 3, 10, "three answered turns counted")
    workers = [samples(url) for url in worker_urls]
    assert sum(value(w, "persona_turn_seconds_count", door="soulmachines") for w in workers) == 3
    assert sum(value(w, "persona_turn_queue_wait_seconds_count", door="soulmachines") for w in workers) == 3
    assert all(value(w, "persona_turns_in_flight") == 0 for w in workers)
    await scene.close()
    wait_for(
        lambda: value(samples(f"{api.url}/metrics"), "persona_sockets_open", door="soulmachines") == 0,
        5,
        "socket closed",
    )
    queues = samples(f"{api.url}/metrics")
    assert ("persona_queue_jobs", (("queue", "turns"), ("state", "queued"))) in queues
    assert value(queues, "persona_queue_oldest_age_seconds", queue="turns") == 0


def test_api_metrics_need_the_operator_key_in_production(stack: Stack, redis_url: str) -> None:
    key = "k" * 40
    api = stack.api(
        redis_url,
        APP_ENV="production",
        ADMIN_API_KEY=key,
        JWT_SECRET="j" * 40,
        PASSWORD_PEPPER="p" * 40,
        OPEN_DOORS="sm,skills,clm",
    )
    assert httpx.get(f"{api.url}/metrics").status_code == 403
    assert httpx.get(f"{api.url}/metrics", headers={"Authorization": "Bearer wrong"}).status_code in (401, 403)
    assert value(samples(f"{api.url}/metrics", **{"X-Admin-Key": key}), "persona_turns_in_flight") == 0
    assert value(samples(f"{api.url}/metrics", Authorization=f"Bearer {key}"), "persona_turns_in_flight") == 0


def spans_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_a_turn_is_one_trace_across_the_api_and_worker_processes(stack: Stack, redis_url: str) -> None:
    api_spans, worker_spans = stack.workdir / "api-spans.jsonl", stack.workdir / "worker-spans.jsonl"
    stack.workers(redis_url, processes=1, TRACE_FILE=str(worker_spans))
    api = stack.api(redis_url, TRACE_FILE=str(api_spans))
    scene = await Scene.open(api.url, "sess-traced")
    await scene.say("", kind="init")
    await scene.say("hello")
    await scene.close()

    def named(path: Path, name: str) -> list[dict[str, Any]]:
        return [span for span in spans_in(path) if span["name"] == name]

    wait_for(lambda: len(named(worker_spans, "worker soulmachines")) == 2, 10, "both turns' worker spans")
    wait_for(lambda: len(named(api_spans, "send")) == 2, 10, "both replies' send spans")
    doors = named(api_spans, "door soulmachines")
    enqueues = {span["parent_id"]: span for span in named(api_spans, "enqueue")}
    workers = {span["parent_id"]: span for span in named(worker_spans, "worker soulmachines")}
    assert len(doors) == 2
    assert len({door["context"]["trace_id"] for door in doors}) == 2  # a trace per turn, not per socket
    for door in doors:
        assert door["parent_id"] is None
        enqueue = enqueues[door["context"]["span_id"]]
        worker = workers[enqueue["context"]["span_id"]]  # the worker's span, a child in another process
        assert worker["context"]["trace_id"] == door["context"]["trace_id"]
        assert worker["attributes"]["persona.outcome"] == "answered"
        children = {s["name"] for s in spans_in(worker_spans) if s["parent_id"] == worker["context"]["span_id"]}
        assert children == {"store read", "brain rules", "record", "publish", "settle"}
        [send] = [s for s in named(api_spans, "send") if s["parent_id"] == worker["context"]["span_id"]]
        assert send["context"]["trace_id"] == door["context"]["trace_id"]  # and back in the API, to the socket


async def test_every_model_call_is_timed_failed_ones_too(fake_llm: FakeLlm) -> None:  # noqa: F811
    def calls() -> float:
        return REGISTRY.get_sample_value("persona_model_call_seconds_count") or 0.0

    before = calls()
    await ask(llm_brain(fake_llm), "hello")
    await ask(llm_brain(fake_llm), "hello [500]")  # the model server fails: timed all the same
    assert calls() == before + 2


def turn_lines(log: str) -> list[dict[str, str]]:
    """The worker's per-turn lines, their context fields as a dict."""
    found = re.findall(r"INFO worker\.turns: turn (\w+) \[([^\]]*)\]", log)
    return [dict(field.split("=", 1) for field in context.split()) | {"line": outcome} for outcome, context in found]


@pytest.mark.timeout(120)
async def test_a_streamed_turn_logs_its_first_word_and_a_barge_in_is_interrupted(
    stack: Stack,
    redis_url: str,
    model: FakeLlm,  # noqa: F811
) -> None:
    api = streaming_stack(stack, redis_url, model)
    [workers] = [process for process in stack.processes if process.name == "workers"]
    client = client_of(api)
    async for _ in await ask_for_story(client, "watched"):
        pass
    cut = await ask_for_story(client, "watched")
    async for chunk in cut:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await cut.close()  # the listener barges in
    wait_for(lambda: len(turn_lines(workers.log())) == 2, 15, "both turns' lines")
    answered, interrupted = turn_lines(workers.log())
    assert (answered["outcome"], answered["door"], answered["brain"]) == ("answered", "hume", "llm")
    assert interrupted["outcome"] == "interrupted"
    # The model's first piece comes 0.3 s in, its last about 2 s in: the first word is well before the end.
    assert int(answered["first_word_ms"]) + 1000 < int(answered["total_ms"])
    assert int(interrupted["first_word_ms"]) < int(interrupted["total_ms"])
