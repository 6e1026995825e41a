"""Where the TensorFlow handler runs: choose a device, pin it per process, check it is real.

TensorFlow silently runs on the CPU when a requested GPU is missing; this module does not. The
choice is made from ``tf.config.list_physical_devices`` before TensorFlow initializes, the chosen
GPU is made the only visible one (with memory growth or a memory limit), and the caller loads and
calls the model inside ``tf.device(placement.device)``.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.errors import DeviceError
from .._support import warn_once

_slot_cache: dict[int, int] = {}


@dataclass(frozen=True)
class Choice:
    """The physical device chosen for a config, before TensorFlow is touched.

    Attributes:
        gpu: Index into the physical GPUs, or ``None`` for the CPU.
        fallback_reason: Why a requested GPU was replaced by the CPU; ``None`` if it was not.
    """

    gpu: int | None
    fallback_reason: str | None = None


def choose_device(
    requested: str,
    gpus: Sequence[str],
    *,
    allow_cpu_fallback: bool,
    found: Sequence[str] = (),
    slot: Callable[[], int] | None = None,
) -> Choice:
    """Choose the physical device for ``requested`` (``cpu``, ``gpu``, ``gpu:N`` or ``auto``).

    ``gpu`` and ``auto`` spread worker processes round-robin over several GPUs by ``slot()``.

    Args:
        requested: The config's ``device``.
        gpus: Names of the physical GPUs TensorFlow lists.
        allow_cpu_fallback: Use the CPU (and say why) instead of raising when a GPU is missing.
        found: Names of every physical device, for the error message.
        slot: This process's worker slot on the machine (a seam for tests).

    Raises:
        DeviceError: a GPU is requested, missing, and the CPU fallback is not allowed.
    """
    if requested == "cpu" or (requested == "auto" and not gpus):
        return Choice(None)
    index = int(requested.partition(":")[2] or -1)
    if index < 0 and gpus:
        return Choice((slot or worker_slot)() % len(gpus) if len(gpus) > 1 else 0)
    if 0 <= index < len(gpus):
        return Choice(index)
    wanted = f"GPU {index}" if index >= 0 else "a GPU"
    listed = ", ".join(found or gpus) or "none"
    message = (
        f"device {requested!r} needs {wanted}, but TensorFlow found {len(gpus)} GPU(s) "
        f"(physical devices: {listed})"
    )
    if not allow_cpu_fallback:
        raise DeviceError(
            f"{message}. Check the NVIDIA driver, CUDA_VISIBLE_DEVICES and that a CUDA build of "
            "TensorFlow is installed (pip install 'tensorflow[and-cuda]'); or set device='cpu', "
            "or allow_cpu_fallback=true to run on the CPU with a warning"
        )
    return Choice(None, fallback_reason=message)


def worker_slot(directory: Path | None = None) -> int:
    """This process's slot among the worker processes of this machine, claimed once.

    Slots come from a counter file under the temporary directory, incremented under an
    exclusive lock, so concurrent workers get consecutive slots.
    """
    pid = os.getpid()
    if pid not in _slot_cache:
        folder = directory or Path(tempfile.gettempdir())
        counter = folder / f"infergraph-gpu-slots-{os.getuid()}"
        with open(counter, "a+", encoding="ascii") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            text = handle.read().strip()
            current = int(text) if text.isdigit() else 0
            handle.seek(0)
            handle.truncate()
            handle.write(str(current + 1))
        _slot_cache[pid] = current
    return _slot_cache[pid]


@dataclass(frozen=True)
class Settings:
    """The device settings of a TensorFlow handler config."""

    device: str
    allow_cpu_fallback: bool
    memory_growth: bool
    memory_limit_mb: int | None
    logical_device: str | None
    intra_op_threads: int
    inter_op_threads: int


@dataclass(frozen=True)
class Placement:
    """Where a model is loaded and called.

    Attributes:
        device: The TensorFlow device name for ``tf.device`` (``/CPU:0``, ``/GPU:0``, ...).
        fallback_reason: Set when a requested GPU was missing and the CPU is used instead.
    """

    device: str
    fallback_reason: str | None = None


def place(tf: Any, settings: Settings, *, label: str) -> Placement:
    """Pin this process to the device ``settings`` ask for and return where to run.

    Call it before the model is loaded: visible devices, memory growth, memory limits and
    thread counts can only be set before TensorFlow initializes.

    Raises:
        DeviceError: the device is missing (and no fallback is allowed), or TensorFlow was
            already initialized in this process without it.
    """
    _set_threads(tf, settings, label)
    if settings.logical_device:
        return Placement(_check_logical(tf, settings.logical_device))
    gpus = tf.config.list_physical_devices("GPU")
    found = [d.name for d in tf.config.list_physical_devices()]
    choice = choose_device(
        settings.device,
        [g.name for g in gpus],
        allow_cpu_fallback=settings.allow_cpu_fallback,
        found=found,
    )
    if choice.gpu is None:
        if choice.fallback_reason:
            warn_once(
                f"tf-fallback:{label}",
                "%s; %s falls back to the CPU",
                choice.fallback_reason,
                label,
            )
        return Placement("/CPU:0", choice.fallback_reason)
    return Placement(_pin_gpu(tf, gpus[choice.gpu], settings, label))


def _pin_gpu(tf: Any, gpu: Any, settings: Settings, label: str) -> str:
    try:
        tf.config.set_visible_devices([gpu], "GPU")
        if settings.memory_limit_mb:
            tf.config.set_logical_device_configuration(
                gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=settings.memory_limit_mb)]
            )
        elif settings.memory_growth:
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
        # TensorFlow is already initialized in this process: use the GPU if it is visible.
        visible = tf.config.get_visible_devices("GPU")
        if gpu not in visible:
            raise DeviceError(
                f"{label} needs {gpu.name}, but TensorFlow was already initialized in this "
                f"process with visible GPUs {[v.name for v in visible]}; run one GPU per worker "
                "process, or load this model first"
            ) from None
        if settings.memory_growth or settings.memory_limit_mb:
            warn_once(
                f"tf-memory:{label}",
                "TensorFlow was already initialized in this process; the memory settings of "
                "%s are not applied",
                label,
            )
        name = f"/GPU:{visible.index(gpu)}"
    else:
        name = "/GPU:0"
    logical = [d.name for d in tf.config.list_logical_devices("GPU")]
    if not any(d.endswith(name.lstrip("/")) for d in logical):
        raise DeviceError(
            f"{label} chose {gpu.name}, but TensorFlow could not initialize it (logical GPUs: "
            f"{logical or 'none'}); check the NVIDIA driver and CUDA libraries"
        )
    return name


def _check_logical(tf: Any, name: str) -> str:
    logical = [d.name for d in tf.config.list_logical_devices()]
    wanted = name.lstrip("/").upper().removeprefix("DEVICE:")
    if not any(d.upper().endswith(wanted) for d in logical):
        raise DeviceError(
            f"logical device {name!r} does not exist; TensorFlow's logical devices are {logical}"
        )
    return name


def _set_threads(tf: Any, settings: Settings, label: str) -> None:
    threading = tf.config.threading
    for wanted, getter, setter in (
        (
            settings.intra_op_threads,
            threading.get_intra_op_parallelism_threads,
            threading.set_intra_op_parallelism_threads,
        ),
        (
            settings.inter_op_threads,
            threading.get_inter_op_parallelism_threads,
            threading.set_inter_op_parallelism_threads,
        ),
    ):
        if not wanted or getter() == wanted:
            continue
        try:
            setter(wanted)
        except RuntimeError:
            warn_once(
                f"tf-threads:{label}",
                "TensorFlow was already initialized in this process; the thread counts of %s "
                "are not applied",
                label,
            )
