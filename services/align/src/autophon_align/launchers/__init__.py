"""Launchers: where alignment Jobs run. :func:`make_launcher` is the one place that chooses."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from autophon_align.launchers.base import Launcher
from autophon_core.config import Settings


@runtime_checkable
class ChildProcessJobs(Protocol):
    """A launcher whose Jobs are child processes of the controller and die with it.

    The controller stops them (``terminate_all``) before handing their tasks back on
    shutdown; Kubernetes Jobs instead keep running and are adopted by the next claimer."""

    def terminate_all(self) -> None: ...


@runtime_checkable
class OrphanableJobs(Protocol):
    """A launcher whose Jobs can outlive a controller killed outright without being adoptable
    by the next one (local child processes). Before a task gets a new Job, ``stop_orphans``
    stops what an earlier controller left of the task's Jobs."""

    def stop_orphans(self, task_id: str) -> list[int]: ...


def make_launcher(settings: Settings, config_path: str | None = None) -> Launcher:
    """The launcher named by ``settings.controller.launcher``.

    ``config_path`` is the config file local Jobs should read (else the settings are written
    to a private file); Kubernetes Jobs read the chart's ConfigMap instead."""
    if settings.controller.launcher == "kubernetes":
        from autophon_align.launchers.kubernetes import KubernetesLauncher

        return KubernetesLauncher.from_config(settings.controller.kubernetes)
    from autophon_align.launchers.local import LocalLauncher

    return LocalLauncher(settings, config_path)
