from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

import infergraph as ig
from infergraph.handlers.tensorflow.device import Choice, choose_device, worker_slot

GPUS = ["/physical_device:GPU:0", "/physical_device:GPU:1", "/physical_device:GPU:2"]


def choose(requested: str, gpus: list[str], slot: int = 0, fallback: bool = False) -> Choice:
    return choose_device(requested, gpus, allow_cpu_fallback=fallback, slot=lambda: slot)


def test_cpu_and_auto_without_gpus() -> None:
    assert choose("cpu", GPUS) == Choice(None)
    assert choose("auto", []) == Choice(None)


def test_explicit_index() -> None:
    assert choose("gpu:2", GPUS, slot=7) == Choice(2)


def test_gpu_without_index_spreads_workers_round_robin() -> None:
    assert [choose("gpu", GPUS, slot=s).gpu for s in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert [choose("auto", GPUS, slot=s).gpu for s in range(4)] == [0, 1, 2, 0]
    assert choose("gpu", GPUS[:1], slot=5) == Choice(0)


def test_missing_gpu_names_device_and_devices_found() -> None:
    with pytest.raises(ig.DeviceError) as caught:
        choose_device(
            "gpu:3", GPUS[:2], allow_cpu_fallback=False,
            found=["/physical_device:CPU:0", *GPUS[:2]],
        )
    message = str(caught.value)
    assert "device 'gpu:3' needs GPU 3, but TensorFlow found 2 GPU(s)" in message
    assert "/physical_device:CPU:0, /physical_device:GPU:0, /physical_device:GPU:1" in message


def test_missing_gpu_with_fallback_says_why() -> None:
    choice = choose("gpu", [], fallback=True)
    assert choice.gpu is None
    assert choice.fallback_reason == (
        "device 'gpu' needs a GPU, but TensorFlow found 0 GPU(s) (physical devices: none)"
    )


def _claim(directory: str, slots: multiprocessing.Queue[int]) -> None:
    slots.put(worker_slot(Path(directory)))
    slots.put(worker_slot(Path(directory)))  # asked again: the same slot


def test_worker_slots_are_distinct_across_processes(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    slots: multiprocessing.Queue[int] = context.Queue()
    workers = [context.Process(target=_claim, args=(str(tmp_path), slots)) for _ in range(3)]
    for worker in workers:
        worker.start()
    claimed = [slots.get(timeout=60) for _ in range(6)]
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(claimed) == [0, 0, 1, 1, 2, 2]
    assert (tmp_path / next(p.name for p in tmp_path.iterdir())).read_text() == "3"
