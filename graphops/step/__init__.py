"""One step of a tracking, the queue trigger's work: read the message (``tracker``), start the operation
(``start_job``, sending once through ``starter``), poll it (``poll_job``), decide what Graph's answer means
(``decide``), deliver the outcome (``delivery_job``), and queue what comes next (``chain``).
"""
