"""The benchmark tool (``appeals bench``): load the system end to end and compare it with the
raw speed of the broker, the database and an empty web server on the same machine.

Not a service: it imports only ``shared`` and talks to the services over HTTP, Kafka and
MongoDB, as any client would. ``cli.py`` is the command; ``workload.py`` (the day of appeals)
and ``stats.py`` (percentiles, rates) are pure and unit-tested; ``baselines.py`` measures the
raw infrastructure; ``system.py`` drives and observes the running stack; ``seed.py`` fills a
database with appeals for at-scale queries, which ``scale.py`` times (``appeals bench scale``);
``report.py`` renders the result and the chart.
"""
