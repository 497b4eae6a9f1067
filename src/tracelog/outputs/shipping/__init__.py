"""Network outputs: Loki push, Elasticsearch bulk, RFC 5424 syslog.

Every shipper is an *output*: an object ``configure(outputs=[...])`` hands
each rendered line to. The protocol (duck-typed)::

    class Output(Protocol):
        level: int | None     # minimum level for this output; None: the configured level
        format: str           # "json" for every shipper
        schema: str | None    # field layout; Elasticsearch defaults to "ecs", others to None
        def write(self, line: bytes | str) -> None: ...
        def flush(self, timeout: float | None = None) -> bool: ...
        def close(self, timeout: float | None = None) -> None: ...
        def stats(self) -> dict[str, int]: ...

- ``write`` takes one JSON line (bytes, ending with ``b"\\n"``). It only
  appends to a bounded buffer under a lock: it never touches the network,
  never blocks on I/O (unless the buffer is full and spilling to disk), and
  never raises.
- ``flush`` blocks until every line accepted before the call has been shipped
  (or refused for good), or ``timeout`` passes; True when it all was.
- ``close`` ships what is left for up to ``timeout`` seconds (default: the
  shipper's ``close_timeout``), keeps the rest in the spill file (or counts it
  as dropped), and stops the sender thread. A write after ``close`` opens
  the shipper again (lines logged late in interpreter shutdown still go out
  with the exit flush).
- ``stats`` counts ``written`` (shipped and acknowledged), ``dropped``,
  ``retried`` (requests sent again), ``failed`` (refused by the server for
  good), ``batches``, ``spilled`` and ``queued``.

Common options (all shippers): ``batch_size`` lines or ``batch_interval``
seconds, whichever comes first; ``queue_size`` lines held in memory;
``spill_path`` a file taking lines the buffer cannot hold, sent in order
once the server catches up, and picked up by the next process if this one
exits first; ``backoff``/``max_backoff`` for retries (exponential, with
jitter, or as long as ``Retry-After`` says); ``close_timeout``.

At interpreter exit every open shipper is flushed (for up to its
``close_timeout``). After ``os.fork()`` the child starts with an empty
buffer and its own spill file (``<spill_path>.<pid>``): nothing is shipped
twice.

Import them from :mod:`tracelog.outputs` (``tracelog.outputs.Loki``,
``tracelog.outputs.Batching``); they load only when asked for, so that
``import tracelog`` stays light.
"""

from __future__ import annotations

__all__: list[str] = []  # the shippers' one home is tracelog.outputs
