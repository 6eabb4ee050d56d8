"""Delivering a finished tracking: to its callback URL (a signed Standard Webhooks POST), to an Event Grid
topic, to a results queue.

Each sink delivers one tracking's result once and never raises; the step (:mod:`graphops.step.delivery_job`)
decides what to retry.
"""
