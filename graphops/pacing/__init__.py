"""When to ask Graph again: the default schedule, schedules learned from each kind's lengths, and Graph's
throttling limits as budgets shared by every worker.

The decisions (``schedule``, ``learned``, ``budget``) are pure functions; ``length_store`` and ``budget_store``
keep their rows in the state table.
"""
