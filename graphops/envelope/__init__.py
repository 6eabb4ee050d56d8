"""The tracking and its wire format: what travels on the queue between steps.

Everything that reads a tracking sits above this package. Turning a caller's request into a tracking is the
intake's job (:mod:`graphops.intake`), not this one's.
"""
