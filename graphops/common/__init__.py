"""What every part of graphops stands on: its few exception types, URL and text checks, logs and telemetry.

Nothing here knows of Graph, trackings or storage; everything else may import it.
"""
