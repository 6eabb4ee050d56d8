"""Microsoft Graph: which operations graphops knows (kinds), what it may start (actions), in which clouds, and
the readers that ask Graph (with the app's token) or a drive-copy monitor (without one).

The readers hand back a :class:`~graphops.graph.answer.GraphAnswer`; what it means is decided above, in
:mod:`graphops.step.decide`.
"""
