"""A real local Ray cluster for the Ray tests (test_batch_ray.py, test_serve_ray.py): a head node and a
worker node, each its own raylet process on 127.0.0.1 (``ray.cluster_utils.Cluster``, the same processes
``ray start --head`` / ``ray start --address`` run), 1 CPU each, always shut down."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import ray
from ray.cluster_utils import Cluster

REAL = Path(__file__).resolve().parents[1] / "cafetalk_core" / "evaluation" / "sets" / "real_speech"
CLIPS = ["arctic_a0009.wav", "ps_cards_002.wav", "librivox_0880.wav"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Head + one worker node; always shut down, whatever the tests did."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 80 * 1024 ** 2,
                                                       "include_dashboard": False})
    try:
        c.add_node(num_cpus=1, object_store_memory=80 * 1024 ** 2)
        c.wait_for_nodes()
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()
