"""Azure Storage: the tracking queue and its poison queue, the seal on graphops' own messages, each tracking's
state and the time index that the lists read.

The queue is the truth of what runs next; the state table is what people and the HTTP API read.
"""
