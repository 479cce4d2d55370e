"""Reading /metrics with prometheus-client's own text parser."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

SMALL = {"prompt": "a lighthouse", "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler"}


def scrape(client) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of every sample /metrics answers."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
