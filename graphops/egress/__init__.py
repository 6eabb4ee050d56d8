"""Where graphops may send a request that a caller named: https only, an allowed host, every address public,
and the connection pinned to the address that was checked.

Callbacks (:mod:`graphops.delivery`) and drive-copy monitors (:mod:`graphops.graph.monitor`) both go through
here, and the intake checks a callback URL's syntax with the same policy.
"""
