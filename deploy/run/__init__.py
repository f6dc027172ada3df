"""One run (``moto train``, ``moto eval``, ``moto scale``, ``moto diagnose``): the driver of paper
Algorithm 1 and what it uses (the schedule counters, the fleet of rollout workers, the run directory
and its checkpoints, the demos and offline data, where actors go on a cluster), the summary a
finished run shows, and the diagnosis read off a run's checkpoint and store."""
