"""The way in: a caller's request or a producer's message checked field by field against the deployment's
limits, and turned into a tracking or refused with the field at fault.

It asks the callback policy (:mod:`graphops.egress`), the operation kinds and the start actions
(:mod:`graphops.graph`); the API, the Python client and the first step all come through here.
"""
