"""The functions' bodies. ``function_app.py`` binds triggers to these and does nothing else."""

from __future__ import annotations

import functools
import os

import azure.functions as func

from .settings import Settings
from .step import Tracker
from .wiring import build_tracker


def check_settings() -> Settings:
    """Read the app settings; a bad value fails at start-up with a message naming the setting."""
    return Settings.from_env(os.environ)


@functools.cache
def tracker() -> Tracker:
    """The process's tracker, built on first use: one credential and one HTTP pool per worker."""
    return build_tracker(check_settings())


def track_operation(msg: func.QueueMessage) -> None:
    """Queue trigger: one step of one tracking. Raising hands the message back to the host to retry."""
    tracker().handle(msg.get_body(), msg.id or "")
