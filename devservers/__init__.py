"""The real servers that ``interop dev``, the tests and the benchmarks run on this machine.

* ``devservers.kafka``: Apache Kafka (KRaft) from jars fetched with Maven, started,
  reused, stopped and inspected (``interop kafka start|stop|status|fetch``).
* ``devservers.postgres``: a PostgreSQL server from Debian's package, installed on demand
  (``python -m devservers.postgres start --data-dir D``).
* ``devservers.ports``: server ports below the machine's ephemeral range, checked the way
  the servers bind them.

Not part of a deployment: production runs its own brokers and databases (``deploy/``).
``interop`` (the command line) and the tests use this package; it uses ``contracts`` and
``bus`` only.
"""
